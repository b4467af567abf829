import { spawn } from 'node:child_process';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CommanderError } from 'commander';
import { describe, expect, it } from 'vitest';
import pkg from '../package.json' with { type: 'json' };
import { createProgram, EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from '../src/index.js';
import { run, tempDir } from './helpers.js';

const tmp = tempDir('dqa-cli-test-');

describe('dqa fig2', () => {
  it('runs the study, prints the table and the files it wrote', async () => {
    const out = join(tmp.path, 'fig2');
    let stdout = '';
    await createProgram({ stdout: (s) => (stdout += s) }).parseAsync([
      'node',
      'dqa',
      'fig2',
      '--out',
      out,
      '--samples',
      '2000',
      '--seed',
      '3',
      '--points',
      '9',
    ]);
    expect(stdout).toContain('# Fig. 2');
    expect(stdout).toContain('2000 samples');
    expect(stdout).toContain('seed 3');
    expect(stdout).toContain('| T | a BR [2-bit, FP]');
    for (const f of ['fig2.md', 'fig2.json', 'fig2.svg', 'fig2.png'])
      expect(stdout).toContain(`  ${join(out, f)}\n`);
    expect((await readdir(out)).sort()).toEqual(['fig2.json', 'fig2.md', 'fig2.png', 'fig2.svg']);
    const json = JSON.parse(await readFile(join(out, 'fig2.json'), 'utf8'));
    expect(json.settings).toMatchObject({ samples: 2000, seed: 3, points: 9 });
  });

  it('--no-png writes no PNG', async () => {
    const out = join(tmp.path, 'no-png');
    const r = await run('fig2', '--out', out, '--samples', '500', '--points', '3', '--no-png');
    expect(r.code).toBe(EXIT_OK);
    expect(r.stdout).not.toContain('fig2.png');
    expect((await readdir(out)).sort()).toEqual(['fig2.json', 'fig2.md', 'fig2.svg']);
  });

  it.each([
    ['--samples', '0'],
    ['--samples', 'abc'],
    ['--samples', '1.5'],
    ['--points', '1'],
    ['--seed', '-1'],
  ])('%s %s is a usage error naming the option (exit 2)', async (flag, value) => {
    const r = await run('fig2', '--out', join(tmp.path, 'unused'), flag, value);
    expect(r.code).toBe(EXIT_USAGE);
    expect(r.stderr).toContain(`option '${flag} <n>' argument '${value}' is invalid`);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stdout).toBe('');
  });

  it('throws a CommanderError from createProgram instead of exiting', async () => {
    const program = createProgram({ stderr: () => {} });
    await expect(
      program.parseAsync(['node', 'dqa', 'fig2', '--samples', 'abc']),
    ).rejects.toBeInstanceOf(CommanderError);
  });

  it('an unwritable --out is one line on stderr naming the path (exit 1)', async () => {
    const blocker = join(tmp.path, 'a-file');
    await writeFile(blocker, 'not a folder');
    const r = await run('fig2', '--out', blocker, '--samples', '200', '--points', '2');
    expect(r.code).toBe(EXIT_FAILURE);
    expect(r.stderr).toMatch(/^dqa: cannot write .*a-file/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });
});

describe('dqa', () => {
  it('--help lists the commands', async () => {
    const r = await run('--help');
    expect(r.code).toBe(EXIT_OK);
    expect(r.stdout).toContain('Usage: dqa');
    expect(r.stdout).toMatch(/fig2 \[options\]/);
  });

  it('fig2 --help lists its options', async () => {
    const r = await run('fig2', '--help');
    expect(r.code).toBe(EXIT_OK);
    for (const o of ['--out <dir>', '--samples <n>', '--seed <n>', '--points <n>', '--no-png'])
      expect(r.stdout).toContain(o);
  });

  it('--version prints the package version', async () => {
    const r = await run('--version');
    expect(r.code).toBe(EXIT_OK);
    expect(r.stdout.trim()).toBe(pkg.version);
  });

  it('an unknown command is a usage error', async () => {
    const r = await run('fig3');
    expect(r.code).toBe(EXIT_USAGE);
    expect(r.stderr).toContain("unknown command 'fig3'");
  });
});

describe('the dqa binary', () => {
  it('stops quietly when the reader of its output goes away (dqa … | head)', async () => {
    const bin = fileURLToPath(new URL('../dist/bin.js', import.meta.url));
    const child = spawn(process.execPath, [bin, 'bench', 'accuracy', '--help'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    // Close the read end at once: every write of the help text then fails with EPIPE.
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const code = await new Promise<number | null>((done) => child.on('close', done));
    expect(stderr).not.toMatch(/EPIPE|Unhandled 'error' event/);
    expect(code).toBe(0);
  });
});
