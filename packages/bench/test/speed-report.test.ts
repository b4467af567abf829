import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  formatMs,
  median,
  parseSpeedList,
  parseSpeedMessage,
  resolveSpeedSettings,
  type SpeedCell,
  type SpeedResult,
  speedJson,
  speedMarkdown,
  speedRows,
  writeSpeed,
} from '../src/index.js';

const cell = (
  backend: string,
  model: 'small-cnn' | 'resnet20',
  variant: 'fp' | 'ste2' | 'dqa248',
  stepsMs: number[],
): SpeedCell => {
  const m = median(stepsMs);
  return {
    backend,
    model,
    variant,
    batch: model === 'small-cnn' ? 64 : 128,
    warmup: 2,
    stepsMs,
    medianMs: m,
    stepsPerSecond: m ? 1000 / m : null,
  };
};

/** A made-up run: wasm and PyTorch measured, cpu failed on one cell. */
function result(pytorch: 'ok' | 'not-installed' = 'ok'): SpeedResult {
  const settings = resolveSpeedSettings({
    models: ['small-cnn'],
    backends: ['wasm', 'cpu', 'pytorch'],
    steps: 5,
  });
  const cells: SpeedCell[] = [
    cell('wasm', 'small-cnn', 'fp', [90, 100, 110, 95, 105]),
    cell('wasm', 'small-cnn', 'ste2', [110, 110, 110, 110, 110]),
    cell('wasm', 'small-cnn', 'dqa248', [121, 121, 121, 121, 121]),
    cell('cpu', 'small-cnn', 'fp', [1500, 1600, 1550]),
    cell('cpu', 'small-cnn', 'ste2', [1600, 1600, 1600, 1600, 1600]),
    { ...cell('cpu', 'small-cnn', 'dqa248', []), error: 'out of memory' },
  ];
  if (pytorch === 'ok')
    cells.push(
      cell('pytorch', 'small-cnn', 'fp', [20, 20, 20, 20, 20]),
      cell('pytorch', 'small-cnn', 'ste2', [22, 22, 22, 22, 22]),
      cell('pytorch', 'small-cnn', 'dqa248', [25, 25, 25, 25, 25]),
    );
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
      {
        id: 'wasm',
        label: 'tfjs wasm',
        role: 'dqa',
        status: 'ok',
        engine: 'wasm',
        version: '4.22.0',
        seconds: 3,
      },
      {
        id: 'cpu',
        label: 'tfjs cpu',
        role: 'dqa',
        status: 'ok',
        engine: 'cpu',
        version: '4.22.0',
        seconds: 9,
      },
      pytorch === 'ok'
        ? {
            id: 'pytorch',
            label: 'PyTorch',
            role: 'reference',
            status: 'ok',
            engine: 'pytorch',
            version: '1.13.0',
            seconds: 1,
          }
        : {
            id: 'pytorch',
            label: 'PyTorch',
            role: 'reference',
            status: 'not-installed',
            reason: 'PyTorch is not installed for /usr/bin/python3',
            hint: 'install it with: sudo sh install-torch.sh',
            seconds: 0.1,
          },
    ],
    cells,
    startedAt: '2026-01-01T00:00:00.000Z',
    seconds: 13,
  };
}

let dir: string | undefined;
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('speed report', () => {
  it('median and millisecond formatting', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeNull();
    expect([formatMs(12_345.6), formatMs(559.4), formatMs(91.54), formatMs(3.456)]).toEqual([
      '12 346',
      '559',
      '91.5',
      '3.46',
    ]);
  });

  it('rows: ratio to the PyTorch FP step of the same model, DQA overhead over STE per backend', () => {
    const rows = speedRows(result());
    expect(rows.map((r) => r.variant)).toEqual(['fp', 'ste2', 'dqa248']);
    const [fp, ste, dqa] = rows;
    expect(fp!.vsReferenceFp).toEqual({ wasm: 5, cpu: 77.5 });
    expect(ste!.vsReferenceFp.wasm).toBeCloseTo(5.5);
    expect(dqa!.vsReferenceFp).toEqual({ wasm: 6.05, cpu: null });
    expect(dqa!.dqaOverSte.wasm).toBeCloseTo(0.1);
    expect(dqa!.dqaOverSte.pytorch).toBeCloseTo(25 / 22 - 1);
    expect(dqa!.dqaOverSte.cpu).toBeNull();
    expect(fp!.dqaOverSte).toEqual({});
  });

  it('markdown: one row per model and variant, each backend a column, ratios, failures and the machine', () => {
    const md = speedMarkdown(result());
    expect(md).toContain(
      '| model | variant | tfjs wasm ms | tfjs cpu ms | PyTorch ms | wasm / PyTorch FP | cpu / PyTorch FP | DQA over STE, wasm | DQA over STE, cpu | DQA over STE, PyTorch |',
    );
    expect(md).toContain(
      '| small CNN | FP | 100 (10.0/s) | 1 550 (0.65/s, 3 steps) | 20.0 (50.0/s) | 5.0× | 78× |  |  |  |',
    );
    expect(md).toContain(
      '| small CNN | DQA 2/4/8 | 121 (8.26/s) | failed | 25.0 (40.0/s) | 6.0× | — | +10.0% | — | +13.6% |',
    );
    expect(md).toContain('- tfjs cpu small-cnn dqa248 failed: out of memory');
    expect(md).toContain(
      'small CNN at batch 64; median of up to 5 timed steps after 2 warm-up steps',
    );
    expect(md).toContain('Machine: Test CPU, 2 cores');
    expect(md).toContain('load average 0.1 before, 0.2 after');
  });

  it("a backend that is not installed reads 'not installed', with how to install it", () => {
    const md = speedMarkdown(result('not-installed'));
    expect(md).toContain(
      '| small CNN | FP | 100 (10.0/s) | 1 550 (0.65/s, 3 steps) | not installed | — | — |',
    );
    expect(md).toContain(
      '- PyTorch: not installed: PyTorch is not installed for /usr/bin/python3. install it with: sudo sh install-torch.sh',
    );
  });

  it('JSON holds the settings, every step time and the rows; both files are written atomically', async () => {
    const r = result();
    const json = JSON.parse(speedJson(r));
    expect(json.settings).toMatchObject({
      models: ['small-cnn'],
      steps: 5,
      warmup: 2,
      batch: { 'small-cnn': 64, resnet20: 128 },
    });
    expect(json.cells[0].stepsMs).toEqual([90, 100, 110, 95, 105]);
    expect(json.rows[2].dqaOverSte.wasm).toBeCloseTo(0.1);
    dir = await mkdtemp(join(tmpdir(), 'dqa-speed-'));
    const files = await writeSpeed(r, join(dir, 'out'));
    expect((await readdir(join(dir, 'out'))).sort()).toEqual(['speed.json', 'speed.md']);
    expect(await readFile(files.md, 'utf8')).toBe(speedMarkdown(r));
  });
});

describe('speed options', () => {
  it('lists are checked against the known ids, naming the bad one and the known ones', () => {
    expect(parseSpeedList('models', 'small-cnn, resnet20')).toEqual(['small-cnn', 'resnet20']);
    expect(() => parseSpeedList('models', 'small-cnn,vgg')).toThrow(
      "unknown model 'vgg'; known: small-cnn, resnet20",
    );
    expect(() => parseSpeedList('backends', 'gpu,tpu')).toThrow(
      "unknown backends 'gpu', 'tpu'; known: wasm, wasm-trainer, cpu, tensorflow, native-cpu, onednn, pytorch",
    );
    expect(() => parseSpeedList('variants', 'fp,fp')).toThrow("variant 'fp' is listed twice");
    expect(() => parseSpeedList('variants', ',')).toThrow(
      'no variant given; known: fp, ste2, dqa248',
    );
  });

  it('settings: defaults, and errors that name the option', () => {
    const s = resolveSpeedSettings();
    expect(s).toMatchObject({
      models: ['small-cnn', 'resnet20'],
      variants: ['fp', 'ste2', 'dqa248'],
      backends: ['wasm', 'wasm-trainer', 'cpu', 'native-cpu', 'onednn', 'pytorch'],
      steps: 20,
      warmup: 2,
      timeBudgetS: 30,
      minSteps: 3,
      batch: { 'small-cnn': 64, resnet20: 128 },
    });
    expect(resolveSpeedSettings({ steps: 2, batch: 8 })).toMatchObject({
      minSteps: 2,
      batch: { 'small-cnn': 8, resnet20: 8 },
    });
    expect(() => resolveSpeedSettings({ models: ['lenet' as 'resnet20'] })).toThrow(
      "models: unknown model 'lenet'",
    );
    expect(() => resolveSpeedSettings({ steps: 0 })).toThrow(
      'steps: expected an integer ≥ 1, got 0',
    );
    expect(() => resolveSpeedSettings({ warmup: 1.5 })).toThrow(
      'warmup: expected an integer ≥ 0, got 1.5',
    );
    expect(() => resolveSpeedSettings({ timeBudgetS: -1 })).toThrow(
      'timeBudgetS: expected a number ≥ 0',
    );
  });
});

describe('speed protocol', () => {
  it('parses protocol lines, ignores other output, reports malformed messages', () => {
    expect(parseSpeedMessage('{"type":"hello","engine":"pytorch","version":"1.13"}')).toEqual({
      type: 'hello',
      engine: 'pytorch',
      version: '1.13',
    });
    expect(
      parseSpeedMessage('Hi there 👋. Looks like you are running TensorFlow.js in Node.js'),
    ).toBeNull();
    expect(parseSpeedMessage('{"not":"ours"}')).toBeNull();
    expect(parseSpeedMessage('{broken')).toBeNull();
    expect(
      parseSpeedMessage(
        '{"type":"cell","model":"small-cnn","variant":"fp","batch":64,"stepsMs":[1,"x"]}',
      ),
    ).toEqual({
      malformed: expect.stringContaining("malformed 'cell' message"),
    });
  });
});
