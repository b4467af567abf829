import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createProgram, EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from '../src/index.js';
import { run, tempDir } from './helpers.js';

const tmp = tempDir('dqa-cli-speed-');

describe('dqa bench speed', () => {
  it('a tiny run on tfjs wasm (its own process): prints the table, writes speed.md and speed.json', async () => {
    const out = join(tmp.path, 'tiny');
    let stdout = '';
    let stderr = '';
    await createProgram({ stdout: (s) => (stdout += s), stderr: (s) => (stderr += s) }).parseAsync([
      'node',
      'dqa',
      'bench',
      'speed',
      '--models',
      'small-cnn',
      '--backends',
      'wasm',
      '--steps',
      '1',
      '--warmup',
      '0',
      '--batch',
      '4',
      '--out',
      out,
    ]);
    expect(stdout).toContain('# Speed: one training step, median');
    expect(stdout).toContain(
      'small CNN at batch 4; median of up to 1 timed step after 0 warm-up steps',
    );
    expect(stdout).toContain('| model | variant | tfjs wasm ms | DQA over STE, wasm |');
    for (const v of ['FP', 'STE 2-bit', 'DQA 2/4/8'])
      expect(stdout).toMatch(
        new RegExp(`\\| small CNN \\| ${v} \\| [0-9][0-9 .]* \\([0-9.]+/s\\) \\|`),
      );
    expect(stdout).toContain('- tfjs wasm: wasm 4.22.0');
    expect(stdout).toContain(`  ${join(out, 'speed.md')}\n`);
    // Progress goes to stderr as plain lines when stderr is not a terminal.
    expect(stderr).toMatch(/wasm small CNN DQA 2\/4\/8: [0-9.]+ ms \(median of 1\)/);
    expect((await readdir(out)).sort()).toEqual(['speed.json', 'speed.md']);
    const json = JSON.parse(await readFile(join(out, 'speed.json'), 'utf8'));
    expect(json.settings).toMatchObject({
      models: ['small-cnn'],
      backends: ['wasm'],
      steps: 1,
      warmup: 0,
    });
    expect(json.cells).toHaveLength(3);
    for (const c of json.cells) {
      expect(c.medianMs).toBeGreaterThan(0);
      expect(c.params).toBe(50_186);
      expect(Number.isFinite(c.loss)).toBe(true);
    }
  });

  it("PyTorch missing: the column reads 'not installed' and stderr says how to install it (exit 0)", async () => {
    const out = join(tmp.path, 'no-torch');
    const python = join(tmp.path, 'no-such-python3');
    const r = await run(
      'bench',
      'speed',
      '--backends',
      'pytorch',
      '--models',
      'small-cnn',
      '--python',
      python,
      '--out',
      out,
    );
    expect(r.code).toBe(EXIT_OK);
    expect(r.stdout).toContain('| small CNN | FP | not installed |');
    expect(r.stderr).toContain(`dqa: PyTorch not installed: ${python} not found`);
    expect(r.stderr).toMatch(
      /install Debian's python3-torch with: sudo sh \S+\/packages\/bench\/scripts\/install-torch\.sh/,
    );
  });

  it('a backend that fails is in the table, and the command exits 1 naming it', async () => {
    const r = await run(
      'bench',
      'speed',
      '--backends',
      'pytorch',
      '--models',
      'small-cnn',
      '--variants',
      'fp',
      '--python',
      '/bin/false',
      '--no-progress',
      '--out',
      join(tmp.path, 'failing'),
    );
    expect(r.code).toBe(EXIT_FAILURE);
    expect(r.stdout).toContain('| small CNN | FP | failed |');
    expect(r.stderr).toMatch(
      /^dqa: bench speed: 1 part failed \(the table and JSON in .*failing show the rest\):\n {2}PyTorch: PyTorch exited with code 1/,
    );
  });

  it.each([
    ['--models', '<list>', 'vgg', "unknown model 'vgg'; known: small-cnn, resnet20"],
    [
      '--backends',
      '<list>',
      'wasm,gpu',
      "unknown backend 'gpu'; known: wasm, wasm-trainer, cpu, tensorflow, native-cpu, onednn, pytorch",
    ],
    ['--variants', '<list>', 'fp,fp', "variant 'fp' is listed twice"],
    ['--steps', '<n>', '0', 'expected an integer ≥ 1'],
    ['--warmup', '<n>', '-1', 'expected an integer ≥ 0'],
    ['--time-budget', '<s>', 'soon', 'expected a number ≥ 0'],
    ['--batch', '<n>', '0', 'expected an integer ≥ 1'],
  ])('%s %s %s is a usage error naming the option (exit 2)', async (flag, arg, value, why) => {
    const r = await run('bench', 'speed', '--out', join(tmp.path, 'unused'), flag, value);
    expect(r.code).toBe(EXIT_USAGE);
    expect(r.stderr).toContain(`option '${flag} ${arg}' argument '${value}' is invalid. ${why}`);
    expect(r.stdout).toBe('');
  });

  it('--help lists the options', async () => {
    const r = await run('bench', 'speed', '--help');
    expect(r.code).toBe(EXIT_OK);
    for (const o of [
      '--models <list>',
      '--backends <list>',
      '--variants <list>',
      '--steps <n>',
      '--warmup <n>',
      '--time-budget <s>',
      '--batch <n>',
      '--python <path>',
      '--out <dir>',
    ])
      expect(r.stdout).toContain(o);
  });
});
