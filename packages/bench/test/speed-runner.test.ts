import { access, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installTorchScript, runSpeedBenchmark, type SpeedEvent } from '../src/index.js';

/**
 * The PyTorch column's runner, driven with fake engine scripts (Node scripts standing in for
 * `python/speed.py`, so no Python or PyTorch is needed): what it parses, and how it reports an
 * engine that is missing, crashes or speaks nonsense.
 */

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dqa-speed-runner-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Writes a fake engine: `body` gets `request` (the parsed argv JSON) and `send(message)`. */
async function fake(name: string, body: string): Promise<string> {
  const path = join(dir, `${name}.mjs`);
  await writeFile(
    path,
    `const request = JSON.parse(process.argv[2]);\nconst send = (m) => process.stdout.write(JSON.stringify(m) + '\\n');\n${body}\n`,
  );
  return path;
}

const run = (script: string, extra: Parameters<typeof runSpeedBenchmark>[0] = {}) =>
  runSpeedBenchmark({
    backends: ['pytorch'],
    models: ['small-cnn'],
    steps: 3,
    warmup: 1,
    python: process.execPath,
    pythonScript: script,
    ...extra,
  });

describe('the PyTorch runner', () => {
  it('parses hello, progress and cells (ignoring other output), takes the medians, reports progress', async () => {
    const script = await fake(
      'ok',
      `console.log('some warning from torch');
send({ type: 'hello', engine: 'pytorch', version: '1.13.0a0', details: request.threads + ' threads' });
for (const variant of request.variants) {
  const stepsMs = [];
  for (let i = 0; i < request.warmup + request.steps; i++) {
    const warm = i < request.warmup;
    const ms = 10 * (i + 1) + (variant === 'dqa248' ? 5 : 0);
    if (!warm) stepsMs.push(ms);
    send({ type: 'progress', model: 'small-cnn', variant, phase: warm ? 'warmup' : 'timed', step: warm ? i + 1 : stepsMs.length, steps: warm ? request.warmup : request.steps, ms });
  }
  send({ type: 'cell', model: 'small-cnn', variant, batch: request.batch['small-cnn'], warmup: request.warmup, stepsMs, params: 50186, loss: 2.3 });
}`,
    );
    const events: SpeedEvent[] = [];
    const r = await run(script, { onEvent: (e) => events.push(e) });
    expect(r.backends).toEqual([
      expect.objectContaining({
        id: 'pytorch',
        status: 'ok',
        engine: 'pytorch',
        version: '1.13.0a0',
        details: '2 threads',
      }),
    ]);
    expect(r.cells.map((c) => [c.variant, c.stepsMs, c.medianMs])).toEqual([
      ['fp', [20, 30, 40], 30],
      ['ste2', [20, 30, 40], 30],
      ['dqa248', [25, 35, 45], 35],
    ]);
    expect(r.cells[0]).toMatchObject({
      batch: 64,
      warmup: 1,
      params: 50186,
      stepsPerSecond: 1000 / 30,
    });
    expect(events[0]).toMatchObject({
      type: 'plan',
      total: 12,
      settings: { backends: ['pytorch'] },
    });
    const steps = events.filter((e) => e.type === 'step');
    expect(steps.map((e) => e.done)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    expect(events.at(-1)).toMatchObject({ type: 'backend-end', done: 12, total: 12 });
  });

  it("torch missing: 'not installed', with the install script in the hint", async () => {
    const script = await fake(
      'no-torch',
      `send({ type: 'unavailable', reason: "No module named 'torch'" });`,
    );
    const r = await run(script);
    expect(r.backends[0]).toMatchObject({
      status: 'not-installed',
      reason: "No module named 'torch'",
    });
    expect(r.backends[0]!.hint).toContain(installTorchScript);
    expect(r.cells).toEqual([]);
  });

  it("no Python at the given path: 'not installed', naming the path", async () => {
    const r = await runSpeedBenchmark({
      backends: ['pytorch'],
      models: ['small-cnn'],
      steps: 1,
      python: join(dir, 'no-python3'),
    });
    expect(r.backends[0]).toMatchObject({
      status: 'not-installed',
      reason: `${join(dir, 'no-python3')} not found`,
    });
    expect(r.backends[0]!.hint).toMatch(/install-torch\.sh/);
  });

  it('a crash part-way: the cells it finished, the others failed, the reason with stderr', async () => {
    const script = await fake(
      'crash',
      `send({ type: 'hello', engine: 'pytorch', version: '1' });
send({ type: 'cell', model: 'small-cnn', variant: 'fp', batch: 64, warmup: 1, stepsMs: [5, 6, 7] });
send({ type: 'cell-error', model: 'small-cnn', variant: 'ste2', error: 'RuntimeError: boom' });
process.stderr.write('Traceback: out of memory\\n');
process.exit(3);`,
    );
    const r = await run(script);
    expect(r.backends[0]!.status).toBe('failed');
    expect(r.backends[0]!.reason).toBe('PyTorch exited with code 3:\nTraceback: out of memory');
    expect(r.cells.map((c) => [c.variant, c.medianMs, c.error])).toEqual([
      ['fp', 6, undefined],
      ['ste2', null, 'RuntimeError: boom'],
      ['dqa248', null, 'the engine process failed'],
    ]);
  });

  it('a malformed protocol message fails the backend, quoting the line', async () => {
    const script = await fake(
      'malformed',
      `send({ type: 'cell', model: 'small-cnn', variant: 'fp' });`,
    );
    const r = await run(script, { variants: ['fp'] });
    expect(r.backends[0]!.status).toBe('failed');
    expect(r.backends[0]!.reason).toContain("malformed 'cell' message");
  });

  it('the real script and the install script ship with the package', async () => {
    const { defaultLaunchContext } = await import('../src/index.js');
    await access(defaultLaunchContext.pythonScript);
    await access(installTorchScript);
    expect(defaultLaunchContext.pythonScript).toMatch(/packages\/bench\/python\/speed\.py$/);
    expect(installTorchScript).toMatch(/packages\/bench\/scripts\/install-torch\.sh$/);
  });
});
