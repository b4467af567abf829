import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from '../src/index.js';
import { run, runInterrupted, tempDir } from './helpers.js';

const tmp = tempDir('dqa-bench-accuracy-test-');

describe('dqa bench accuracy', () => {
  it('runs a grid into run folders and prints the table; a rerun trains nothing', async () => {
    const out = join(tmp.path, 'grid');
    const args = [
      'bench',
      'accuracy',
      '--models',
      'mlp',
      '--methods',
      'fp,ste',
      '--quantizers',
      'minmax',
      '--no-activations',
      '--seeds',
      '2',
      '--epochs',
      '1',
      '--limit-train',
      '128',
      '--limit-test',
      '64',
      '--backend',
      'reference',
      '--out',
      out,
    ];
    const r = await run(...args);
    expect(r.stderr).toContain('dqa bench accuracy: 4 runs (2 rows × 2 seeds)');
    expect(r.code).toBe(EXIT_OK);
    expect(r.stderr).toMatch(
      /each run 1 epoch on 128 training examples \(1 step\), 64 test examples/,
    );
    expect(r.stderr).toMatch(/\[1\/4\] mlp-fp-s0…/);
    expect(r.stdout).toContain('## mlp: weights only (the layout of Table 1)');
    expect(r.stdout).toMatch(
      /\| mlp \| 2 \| min-max \| - \| - \| - \| - \| - \| \d+\.\d\d ± \d+\.\d\d \|/,
    );
    expect(r.stdout).toContain(`Wrote:\n  ${join(out, 'accuracy.md')}`);
    expect((await readdir(out)).sort()).toEqual([
      'accuracy.json',
      'accuracy.md',
      'grid.json',
      'mlp-fp-s0',
      'mlp-fp-s1',
      'mlp-w-minmax2-ste-s0',
      'mlp-w-minmax2-ste-s1',
    ]);
    const config = JSON.parse(
      await readFile(join(out, 'mlp-w-minmax2-ste-s1', 'config.json'), 'utf8'),
    );
    expect(config).toMatchObject({
      seed: 1,
      model: { name: 'mlp' },
      data: { name: 'fashion-mnist', limitTrain: 128, limitTest: 64 },
      quantization: { weights: { relaxation: 'ste', quantizers: [{ id: 'minmax', bits: 2 }] } },
      relaxation: { binaryRelax: { schedule: 'scaled' } },
    });
    expect(config.run.command).toContain('dqa bench accuracy');

    const again = await run(...args);
    expect(again.code).toBe(EXIT_OK);
    expect(again.stderr).toContain('4 already done');
    expect(again.stderr).not.toMatch(/\[1\/\d\]/);
    expect(again.stdout).toContain('## mlp: weights only');
  }, 120_000);

  it('Ctrl-C stops the grid with a checkpoint; the same command continues it', async () => {
    const out = join(tmp.path, 'interrupted');
    const args = [
      'bench',
      'accuracy',
      '--models',
      'mlp',
      '--methods',
      'fp,dqa',
      '--quantizers',
      'minmax',
      '--no-activations',
      '--seeds',
      '1',
      '--epochs',
      '2',
      '--limit-train',
      '256',
      '--limit-test',
      '64',
      '--backend',
      'reference',
      '--out',
      out,
    ];
    // SIGINT as the second run starts: it stops after its first step.
    const { code, stdout, stderr } = await runInterrupted((s) => s.startsWith('[2/2]'), ...args);
    expect(code).toBe(EXIT_OK);
    expect(stderr).toContain('stopping after this step with a checkpoint');
    expect(stderr).toContain('mlp-w-minmax2-dqa-s0: stopped with a checkpoint');
    expect(stdout).toContain('Stopped before the end: run the same command again to continue');
    expect(stdout).toMatch(/\| mlp\+DQA \|.* \| – \| – \| 0\/1 \|/);

    const again = await run(...args);
    expect(again.code).toBe(EXIT_OK);
    expect(again.stderr).toContain('1 already done');
    expect(again.stderr).toContain('[1/1] mlp-w-minmax2-dqa-s0 (resuming at step 1)…');
    expect(again.stdout).toMatch(/\| mlp\+DQA \|.* \| \d+\.\d\d \| \d+\.\d\d \| 1 \|/);
    expect(again.stdout).not.toContain('Stopped before the end');
  }, 120_000);

  it('refuses contradictory flags and unknown methods', async () => {
    const both = await run('bench', 'accuracy', '--budget', '5', '--epochs', '2', '--plan');
    expect(both.code).toBe(EXIT_FAILURE);
    expect(both.stderr).toContain('--budget and --epochs both set the run length; pick one');
    const unknown = await run('bench', 'accuracy', '--methods', 'dqa,bnn');
    expect(unknown.code).toBe(EXIT_USAGE);
    expect(unknown.stderr).toContain("unknown method 'bnn'; known: fp, ste, br, br-mix, dqa, qnet");
  });

  it('--help explains the grid, the budget and resuming', async () => {
    const r = await run('bench', 'accuracy', '--help');
    expect(r.code).toBe(EXIT_OK);
    for (const s of ['--quick', '--budget <minutes>', '--plan', 'run the same command again'])
      expect(r.stdout).toContain(s);
  });
});

describe('dqa bench surface', () => {
  it('computes the three surfaces, prints their roughness and writes the plot', async () => {
    const out = join(tmp.path, 'surface');
    const r = await run(
      'bench',
      'surface',
      '--model',
      'mlp',
      '--points',
      '3',
      '--examples',
      '16',
      '--backend',
      'reference',
      '--no-png',
      '--no-progress',
      '--out',
      out,
    );
    expect(r.code).toBe(EXIT_OK);
    expect(r.stdout).toContain("# Loss surface (the paper's Fig. 4): mlp on fashion-mnist");
    expect(r.stdout).toMatch(/\| float32 \| float32 weights \| \d/);
    expect(r.stdout).toMatch(/\| 2-bit min-max \| min-max 2 \| \d/);
    expect(r.stdout).toMatch(
      /\| mixed 2\/4\/8-bit \(DQA\) \| DQA mixture of min-max 2 \+ min-max 4 \+ min-max 8 \| \d/,
    );
    expect((await readdir(out)).sort()).toEqual(['surface.json', 'surface.md', 'surface.svg']);
    const even = await run('bench', 'surface', '--points', '4', '--backend', 'reference');
    expect(even.code).toBe(EXIT_FAILURE);
    expect(even.stderr).toContain('points must be an odd integer ≥ 3');
  }, 60_000);
});
