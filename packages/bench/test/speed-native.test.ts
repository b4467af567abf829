import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  median,
  resolveSpeedSettings,
  runSpeedBenchmark,
  type SpeedBackendRun,
  type SpeedCell,
  type SpeedMessage,
  type SpeedResult,
  speedJson,
  speedMarkdown,
  speedRows,
  speedTargetRows,
} from '../src/index.js';
import { measureNativeCpu, type NativeCpuModule } from '../src/speed/native-cells.js';

/**
 * The native columns of `dqa bench speed`: @dqa/native-cpu (a DQA-TS backend) and the plain
 * oneDNN C++ FP step (the limit), with the ratios and targets issue 6 asks for. Report formatting
 * runs on fixed, made-up step times; nothing here is timed.
 */

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dqa-speed-native-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

type Model = 'small-cnn' | 'resnet20';
type Variant = 'fp' | 'ste2' | 'dqa248';

const cell = (backend: string, model: Model, variant: Variant, ms: number): SpeedCell => ({
  backend,
  model,
  variant,
  batch: model === 'small-cnn' ? 64 : 128,
  warmup: 2,
  stepsMs: [ms, ms, ms],
  medianMs: median([ms, ms, ms]),
  stepsPerSecond: 1000 / ms,
});

const run = (
  id: string,
  label: string,
  role: SpeedBackendRun['role'],
  extra: Partial<SpeedBackendRun> = {},
): SpeedBackendRun => ({ id, label, role, status: 'ok', seconds: 1, ...extra });

/** native-cpu, the oneDNN limit and PyTorch on both models; times in ms. */
function result(onednn: 'ok' | 'not-installed' = 'ok'): SpeedResult {
  const settings = resolveSpeedSettings({
    backends: ['native-cpu', 'onednn', 'pytorch'],
    steps: 3,
  });
  const times: [string, Model, Variant, number][] = [
    ['native-cpu', 'small-cnn', 'fp', 5],
    ['native-cpu', 'small-cnn', 'ste2', 5.5],
    ['native-cpu', 'small-cnn', 'dqa248', 5.6],
    ['native-cpu', 'resnet20', 'fp', 80],
    ['native-cpu', 'resnet20', 'ste2', 90],
    ['native-cpu', 'resnet20', 'dqa248', 110],
    ['pytorch', 'small-cnn', 'fp', 14.5],
    ['pytorch', 'small-cnn', 'ste2', 20],
    ['pytorch', 'small-cnn', 'dqa248', 29],
    ['pytorch', 'resnet20', 'fp', 150],
    ['pytorch', 'resnet20', 'ste2', 200],
    ['pytorch', 'resnet20', 'dqa248', 260],
  ];
  if (onednn === 'ok')
    times.push(['onednn', 'small-cnn', 'fp', 4.8], ['onednn', 'resnet20', 'fp', 70]);
  return {
    settings,
    machine: {
      cpu: 'Test CPU',
      cores: 2,
      memoryGiB: 8,
      node: 'v20',
      platform: 'linux x64',
      loadBefore: 0.1,
      loadAfter: 0.2,
    },
    backends: [
      run('native-cpu', 'native-cpu', 'dqa', { engine: 'native-cpu', version: '2.6.3' }),
      onednn === 'ok'
        ? run('onednn', 'oneDNN C++ FP', 'limit', { engine: 'onednn', version: '2.6.3' })
        : run('onednn', 'oneDNN C++ FP', 'limit', {
            status: 'not-installed',
            reason: "the oneDNN C++ step cannot be built: the C++ compiler 'g++' is not installed",
            hint: 'sudo apt-get install g++ libdnnl-dev',
          }),
      run('pytorch', 'PyTorch', 'reference', { engine: 'pytorch', version: '1.13.0' }),
    ],
    cells: times.map(([b, m, v, ms]) => cell(b, m, v, ms)),
    startedAt: '2026-01-01T00:00:00.000Z',
    seconds: 13,
  };
}

describe('the native columns of the speed report', () => {
  it('settings: the oneDNN limit measures FP only', () => {
    expect(result().settings.backendVariants).toEqual({
      'native-cpu': ['fp', 'ste2', 'dqa248'],
      onednn: ['fp'],
      pytorch: ['fp', 'ste2', 'dqa248'],
    });
  });

  it('rows: every variant of native-cpu over the oneDNN FP step, beside the PyTorch ratios', () => {
    const [fp, ste, dqa, rfp, , rdqa] = speedRows(result());
    expect(fp!.vsLimitFp['native-cpu']).toBeCloseTo(5 / 4.8);
    expect(Object.keys(fp!.vsLimitFp)).toEqual(['native-cpu']);
    expect(ste!.vsLimitFp['native-cpu']).toBeCloseTo(5.5 / 4.8);
    expect(dqa!.vsLimitFp['native-cpu']).toBeCloseTo(5.6 / 4.8);
    expect(rfp!.vsLimitFp['native-cpu']).toBeCloseTo(80 / 70);
    expect(rdqa!.vsLimitFp['native-cpu']).toBeCloseTo(110 / 70);
    expect(fp!.vsReferenceFp.onednn).toBeCloseTo(4.8 / 14.5);
    expect(ste!.vsReferenceFp.onednn).toBeNull();
    // No DQA-over-STE entry for the FP-only limit.
    expect(Object.keys(dqa!.dqaOverSte)).toEqual(['native-cpu', 'pytorch']);
    expect(dqa!.dqaOverSte['native-cpu']).toBeCloseTo(5.6 / 5.5 - 1);
  });

  it('targets: DQA over the oneDNN FP step, over STE, and against PyTorch', () => {
    const [small, resnet] = speedTargetRows(result());
    expect(small).toEqual({
      backend: 'native-cpu',
      model: 'small-cnn',
      dqaMs: 5.6,
      vsLimitFp: expect.closeTo(5.6 / 4.8, 9),
      dqaOverSte: expect.closeTo(5.6 / 5.5 - 1, 9),
      vsReferenceFp: expect.closeTo(5.6 / 14.5, 9),
      vsReferenceDqa: expect.closeTo(5.6 / 29, 9),
    });
    expect(resnet).toMatchObject({ backend: 'native-cpu', model: 'resnet20', dqaMs: 110 });
    expect(speedTargetRows(result()).map((t) => t.backend)).toEqual(['native-cpu', 'native-cpu']);
    expect(JSON.parse(speedJson(result())).targets).toHaveLength(2);
  });

  it('markdown: the limit column, its ratio columns and the targets table with ✓ and ✗', () => {
    const md = speedMarkdown(result());
    expect(md).toContain(
      '| model | variant | native-cpu ms | oneDNN C++ FP ms | PyTorch ms | native-cpu / PyTorch FP | oneDNN C++ FP / PyTorch FP | native-cpu / oneDNN C++ FP | DQA over STE, native-cpu | DQA over STE, PyTorch |',
    );
    expect(md).toContain(
      '| small CNN | FP | 5.00 (200/s) | 4.80 (208/s) | 14.5 (69.0/s) | 0.34× | 0.33× | 1.0× |  |  |',
    );
    // The limit measures FP only: its STE and DQA cells are blank, not 'failed'.
    expect(md).toContain(
      '| small CNN | STE 2-bit | 5.50 (182/s) |  | 20.0 (50.0/s) | 0.38× |  | 1.1× |  |  |',
    );
    expect(md).toContain(
      '| small CNN | DQA 2/4/8 | 5.60 (179/s) |  | 29.0 (34.5/s) | 0.39× |  | 1.2× | +1.8% | +45.0% |',
    );
    expect(md).toContain(
      "Targets for the DQA 2/4/8 step (issue 6): at most 1.2× the oneDNN C++ FP step, at most 10% over the same backend's STE step, and 2.5× faster than PyTorch's FP step (at most 0.40×)",
    );
    expect(md).toContain(
      '| backend | model | DQA 2/4/8 ms | / oneDNN C++ FP | over STE | / PyTorch FP | / PyTorch DQA 2/4/8 |',
    );
    expect(md).toContain('| native-cpu | small CNN | 5.60 | 1.17× ✓ | +1.8% ✓ | 0.39× ✓ | 0.19× |');
    expect(md).toContain('| native-cpu | ResNet-20 | 110 | 1.57× ✗ | +22.2% ✗ | 0.73× ✗ | 0.42× |');
    expect(md).toContain('- oneDNN C++ FP: onednn 2.6.3 (1 s)');
  });

  it("a missing oneDNN reads 'not installed' on its FP rows, with the hint; the ratios to it are empty", () => {
    const r = result('not-installed');
    const md = speedMarkdown(r);
    expect(md).toContain(
      '| small CNN | FP | 5.00 (200/s) | not installed | 14.5 (69.0/s) | 0.34× | — | — |  |  |',
    );
    expect(md).toContain(
      '| small CNN | STE 2-bit | 5.50 (182/s) |  | 20.0 (50.0/s) | 0.38× |  | — |  |  |',
    );
    expect(md).toContain('| native-cpu | small CNN | 5.60 | — | +1.8% ✓ | 0.39× ✓ | 0.19× |');
    expect(md).toContain(
      "- oneDNN C++ FP: not installed: the oneDNN C++ step cannot be built: the C++ compiler 'g++' is not installed. sudo apt-get install g++ libdnnl-dev",
    );
  });

  it('without a limit in the run, no limit columns and the targets table without its ratio', () => {
    const r = result();
    const settings = resolveSpeedSettings({ backends: ['native-cpu', 'pytorch'], steps: 3 });
    const md = speedMarkdown({
      ...r,
      settings,
      backends: r.backends.filter((b) => b.id !== 'onednn'),
      cells: r.cells.filter((c) => c.backend !== 'onednn'),
    });
    expect(md).toContain(
      '| model | variant | native-cpu ms | PyTorch ms | native-cpu / PyTorch FP | DQA over STE, native-cpu | DQA over STE, PyTorch |',
    );
    expect(md).toContain('| native-cpu | small CNN | 5.60 | — | +1.8% ✓ | 0.39× ✓ | 0.19× |');
  });
});

describe('the native runners', () => {
  it("an engine's own install hint (from its 'unavailable' message) is reported", async () => {
    const script = join(dir, 'unavailable.mjs');
    await writeFile(
      script,
      `process.stdout.write(JSON.stringify({ type: 'unavailable', reason: 'the addon is not built', hint: 'run pnpm build' }) + '\\n');\n`,
    );
    const r = await runSpeedBenchmark({
      backends: ['pytorch'],
      models: ['small-cnn'],
      steps: 1,
      python: process.execPath,
      pythonScript: script,
    });
    expect(r.backends[0]).toMatchObject({
      status: 'not-installed',
      reason: 'the addon is not built',
      hint: 'run pnpm build',
    });
  });

  it('an engine that stops writing is killed after the stall timeout and reported as failed', async () => {
    const script = join(dir, 'hung.mjs');
    await writeFile(
      script,
      `process.stdout.write(JSON.stringify({ type: 'hello', engine: 'hung', version: '0' }) + '\\n');\nsetTimeout(() => {}, 600_000);\n`,
    );
    const r = await runSpeedBenchmark({
      backends: ['pytorch'],
      models: ['small-cnn'],
      steps: 1,
      python: process.execPath,
      pythonScript: script,
      stallTimeoutS: 1,
    });
    expect(r.backends[0]).toMatchObject({
      status: 'failed',
      reason: 'PyTorch wrote nothing for 1 s and was stopped (a hung engine?)',
    });
    expect(r.cells.map((c) => [c.variant, c.error])).toEqual([
      ['fp', 'the engine process failed'],
      ['ste2', 'the engine process failed'],
      ['dqa248', 'the engine process failed'],
    ]);
    await expect(runSpeedBenchmark({ stallTimeoutS: -1 })).rejects.toThrow(
      'stallTimeoutS: expected a number ≥ 0',
    );
  });

  it("the native-cpu worker reports an addon that is not built as 'unavailable', with its hint", async () => {
    const sent: SpeedMessage[] = [];
    const missing: NativeCpuModule = {
      nativeCpuAvailable: () => ({
        available: false,
        reason: 'build/Release/dqa_native_cpu.node is missing',
        hint: 'run pnpm --filter @dqa/native-cpu build',
      }),
      createNativeCpuBackend: () => {
        throw new Error('must not be called');
      },
    };
    const s = resolveSpeedSettings({ backends: ['native-cpu'], steps: 1 });
    await measureNativeCpu(
      missing,
      {
        engine: 'native-cpu',
        models: s.models,
        variants: s.variants,
        steps: 1,
        warmup: 0,
        timeBudgetS: 0,
        minSteps: 1,
        batch: s.batch,
        learningRate: 0.01,
        momentum: 0.9,
        threads: 1,
      },
      (m) => sent.push(m),
    );
    expect(sent).toEqual([
      {
        type: 'unavailable',
        reason: 'build/Release/dqa_native_cpu.node is missing',
        hint: 'run pnpm --filter @dqa/native-cpu build',
      },
    ]);
  });

  it('native-cpu measures FP, STE 2-bit and DQA 2/4/8 of the small CNN (or says why it cannot)', async () => {
    const r = await runSpeedBenchmark({
      backends: ['native-cpu'],
      models: ['small-cnn'],
      steps: 1,
      warmup: 1,
      batch: 4,
      threads: 1,
    });
    const b = r.backends[0]!;
    if (b.status === 'not-installed') {
      expect(b.hint).toContain('@dqa/native-cpu');
      return;
    }
    expect(b, b.reason).toMatchObject({ status: 'ok', engine: 'native-cpu' });
    expect(r.cells.map((c) => [c.variant, c.stepsMs.length, c.params, c.error])).toEqual([
      ['fp', 1, 50_186, undefined],
      ['ste2', 1, 50_186, undefined],
      ['dqa248', 1, 50_186, undefined],
    ]);
    expect(r.cells.every((c) => Number.isFinite(c.loss))).toBe(true);
  }, 120_000);
});
