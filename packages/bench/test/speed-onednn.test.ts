import { spawnSync } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { architectureSpec, countParameters } from '@dqa/models';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildOnednnStep,
  type OnednnBuild,
  onednnInstallHint,
  onednnStepArgs,
  parseSpeedMessage,
  resolveSpeedSettings,
  runSpeedBenchmark,
  type SpeedMessage,
  speedMarkdown,
} from '../src/index.js';

/**
 * The plain oneDNN C++ step (`native/onednn-step.cc`), the limit column of `dqa bench speed`:
 * it compiles, trains the same models as @dqa/models (parameter counts, a falling loss, gradients
 * that agree with finite differences), and the bench reports a missing compiler or oneDNN with
 * how to install it. Nothing here is timed.
 */

let dir: string;
let build: OnednnBuild;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dqa-onednn-'));
  build = buildOnednnStep();
}, 180_000);
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Runs the compiled program with `args`; returns its protocol messages and other JSON lines. */
function runStep(path: string, args: string[]): { messages: SpeedMessage[]; lines: unknown[] } {
  const r = spawnSync(path, args, { encoding: 'utf8', timeout: 120_000 });
  expect(r.status, r.stderr).toBe(0);
  const messages: SpeedMessage[] = [];
  const lines: unknown[] = [];
  for (const line of r.stdout.split('\n').filter(Boolean)) {
    lines.push(JSON.parse(line));
    const m = parseSpeedMessage(line);
    if (m && !('malformed' in m)) messages.push(m);
  }
  return { messages, lines };
}

const lossesOf = (lines: unknown[], model: string) =>
  lines
    .filter(
      (l): l is { type: 'loss'; model: string; loss: number } =>
        (l as { type?: string }).type === 'loss' && (l as { model?: string }).model === model,
    )
    .map((l) => l.loss);

/** Where oneDNN is absent the only thing to check is that the bench says so, with the hint. */
function expectMissing(b: OnednnBuild): b is Extract<OnednnBuild, { ok: false }> {
  if (b.ok) return false;
  expect(b).toMatchObject({ ok: false, missing: true, hint: onednnInstallHint });
  return true;
}

describe('the oneDNN C++ step', () => {
  it('compiles once into the cache, then is up to date', () => {
    if (expectMissing(build)) return;
    if (!build.ok) throw new Error('unreachable');
    const again = buildOnednnStep();
    expect(again).toEqual({ ok: true, path: build.path, compiled: false });
    expect(build.path).toContain(join('node_modules', '.cache', '@dqa', 'bench'));
  });

  it("counts the models' parameters as @dqa/models does, and its gradients match finite differences", () => {
    if (expectMissing(build)) return;
    if (!build.ok) throw new Error('unreachable');
    const { messages, lines } = runStep(build.path, [
      '--models',
      'small-cnn,resnet20',
      '--batch',
      'small-cnn=16,resnet20=16',
      '--warmup',
      '0',
      '--steps',
      '1',
      '--threads',
      '1',
      '--grad-check',
    ]);
    expect(messages[0]).toMatchObject({ type: 'hello', engine: 'onednn' });
    const cells = messages.filter((m) => m.type === 'cell');
    expect(cells.map((c) => [c.model, c.variant, c.params, c.batch, c.stepsMs.length])).toEqual([
      ['small-cnn', 'fp', countParameters(architectureSpec('cnn-small')), 16, 1],
      ['resnet20', 'fp', countParameters(architectureSpec('resnet20')), 16, 1],
    ]);
    expect(cells.map((c) => c.params)).toEqual([50_186, 272_474]);
    // One check per parameter tensor (kernels, biases, batch norm's scale and shift): the
    // directional derivative along its gradient against a central difference. (Dropping the
    // identity shortcuts' gradients puts the early layers' checks off by 4-18×.)
    const checks = lines.filter(
      (l): l is { model: string; tensor: string; analytic: number; numeric: number } =>
        (l as { type?: string }).type === 'grad-check',
    );
    expect(checks.filter((c) => c.model === 'small-cnn').map((c) => c.tensor)).toEqual([
      'conv1/kernel',
      'conv1/bias',
      'conv2/kernel',
      'conv2/bias',
      'logits/kernel',
      'logits/bias',
    ]);
    // ResNet-20: 21 convolutions, 21 batch norms, the dense kernel and bias.
    expect(checks.filter((c) => c.model === 'resnet20')).toHaveLength(44);
    for (const c of checks) {
      expect(c.analytic, c.tensor).toBeGreaterThan(0);
      expect(Math.abs(c.numeric - c.analytic) / c.analytic, c.tensor).toBeLessThan(0.05);
    }
  });

  it('trains: the loss falls over 50 steps on a fixed random batch', () => {
    if (expectMissing(build)) return;
    if (!build.ok) throw new Error('unreachable');
    const { lines } = runStep(build.path, [
      '--models',
      'small-cnn,resnet20',
      '--batch',
      'small-cnn=64,resnet20=16',
      '--warmup',
      '0',
      '--steps',
      '50',
      '--time-budget',
      '0',
      '--threads',
      '1',
      '--print-loss',
    ]);
    for (const model of ['small-cnn', 'resnet20']) {
      const losses = lossesOf(lines, model);
      expect(losses).toHaveLength(50);
      expect(losses.every(Number.isFinite)).toBe(true);
      // Random labels of one batch are memorised: from about ln 10 to a fraction of it.
      expect(losses[0]).toBeGreaterThan(1.5);
      expect(losses.at(-1)!).toBeLessThan(0.5 * losses[0]!);
    }
  });

  it('is a bench column: FP cells only, the other variants left blank', async () => {
    if (expectMissing(build)) return;
    const r = await runSpeedBenchmark({
      backends: ['onednn'],
      models: ['small-cnn'],
      steps: 2,
      warmup: 1,
      batch: 8,
      threads: 1,
    });
    expect(r.backends[0]).toMatchObject({
      id: 'onednn',
      role: 'limit',
      status: 'ok',
      engine: 'onednn',
    });
    expect(r.cells.map((c) => [c.variant, c.stepsMs.length, c.params])).toEqual([
      ['fp', 2, 50_186],
    ]);
    const md = speedMarkdown(r);
    expect(md).toContain('| small CNN | STE 2-bit |  |\n');
    expect(md).not.toContain('DQA over STE');
  }, 120_000);

  it('takes the bench settings as flags', () => {
    const s = resolveSpeedSettings({ models: ['resnet20'], steps: 7, warmup: 1, batch: 32 });
    expect(
      onednnStepArgs({
        engine: '',
        models: s.models,
        variants: ['fp'],
        steps: s.steps,
        warmup: s.warmup,
        timeBudgetS: s.timeBudgetS,
        minSteps: s.minSteps,
        batch: s.batch,
        learningRate: 0.01,
        momentum: 0.9,
        threads: 2,
      }),
    ).toEqual([
      '--models',
      'resnet20',
      '--variants',
      'fp',
      '--batch',
      'resnet20=32',
      '--warmup',
      '1',
      '--steps',
      '7',
      '--time-budget',
      '30',
      '--min-steps',
      '3',
      '--lr',
      '0.01',
      '--momentum',
      '0.9',
      '--threads',
      '2',
    ]);
  });
});

describe('without a compiler or oneDNN', () => {
  it('names the missing compiler, with the install hint', () => {
    const b = buildOnednnStep({ cxx: join(dir, 'no-such-g++'), cacheDir: dir });
    expect(b).toEqual({
      ok: false,
      missing: true,
      reason: expect.stringContaining(
        `the C++ compiler '${join(dir, 'no-such-g++')}' is not installed`,
      ),
      hint: onednnInstallHint,
    });
    expect(onednnInstallHint).toContain('sudo apt-get install g++ libdnnl-dev');
  });

  it("names missing oneDNN headers, and the bench column reads 'not installed' with the hint", async () => {
    // A stand-in compiler that fails as g++ does where libdnnl-dev is not installed.
    const cxx = join(dir, 'fake-g++');
    await writeFile(
      cxx,
      `#!/bin/sh
if [ "$1" = "--version" ]; then echo "fake-g++ 1.0"; exit 0; fi
echo "onednn-step.cc:24:10: fatal error: oneapi/dnnl/dnnl.hpp: No such file or directory" >&2
exit 1
`,
    );
    await chmod(cxx, 0o755);
    expect(buildOnednnStep({ cxx, cacheDir: dir })).toEqual({
      ok: false,
      missing: true,
      reason: "oneDNN's headers (oneapi/dnnl/dnnl.hpp) are not installed",
      hint: onednnInstallHint,
    });
    const saved = process.env.CXX;
    process.env.CXX = cxx;
    try {
      const r = await runSpeedBenchmark({ backends: ['onednn'], models: ['small-cnn'], steps: 1 });
      expect(r.backends[0]).toMatchObject({
        id: 'onednn',
        status: 'not-installed',
        reason:
          "the oneDNN C++ step cannot be built: oneDNN's headers (oneapi/dnnl/dnnl.hpp) are not installed",
        hint: onednnInstallHint,
      });
      expect(r.cells).toEqual([]);
      expect(speedMarkdown(r)).toContain('| small CNN | FP | not installed |');
    } finally {
      if (saved === undefined) delete process.env.CXX;
      else process.env.CXX = saved;
    }
  });

  it('reports another compilation failure with the compiler output', async () => {
    const cxx = join(dir, 'broken-g++');
    await writeFile(
      cxx,
      `#!/bin/sh
if [ "$1" = "--version" ]; then echo "broken-g++ 1.0"; exit 0; fi
echo "onednn-step.cc:1:1: error: something else went wrong" >&2
exit 1
`,
    );
    await chmod(cxx, 0o755);
    const b = buildOnednnStep({ cxx, cacheDir: dir });
    expect(b).toMatchObject({ ok: false, missing: false });
    expect(!b.ok && b.reason).toContain('error: something else went wrong');
  });
});
