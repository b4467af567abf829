import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ConfigError,
  type ConfigIssue,
  type DqaConfig,
  DqaError,
  formatPath,
  matchesLayer,
  parseConfig,
  parseConfigText,
  Registry,
  type Relaxation,
  resolveLayerQuantization,
  suggest,
} from '../src/index.js';
import { loadConfigFile } from '../src/node.js';
import { fakeRegistries } from './fake-plugins.js';

const registries = fakeRegistries();
const base = { model: { name: 'cnn-small' }, data: { name: 'mnist' } };

/** The paper’s weight setting: DQA over 2/4/8-bit min-max. */
const dqaWeights = {
  relaxation: 'dqa',
  quantizers: [
    { id: 'minmax', bits: 2 },
    { id: 'minmax', bits: 4 },
    { id: 'minmax', bits: 8 },
  ],
};

function issuesOf(input: unknown): readonly ConfigIssue[] {
  try {
    parseConfig(input, registries);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    expect((e as ConfigError).code).toBe('CONFIG_INVALID');
    return (e as ConfigError).issues;
  }
  return expect.fail('expected a ConfigError');
}

/** Asserts that the config fails with an issue at exactly `at` whose message matches. */
function expectIssue(input: unknown, at: string, message: RegExp): ConfigIssue {
  const issues = issuesOf(input);
  const hit = issues.find((i) => i.path === at);
  expect(hit, `no issue at ${at}; got ${JSON.stringify(issues)}`).toBeDefined();
  expect(hit!.message).toMatch(message);
  return hit!;
}

function withWeights(weights: unknown, extra: Record<string, unknown> = {}): unknown {
  return { ...base, quantization: { weights }, ...extra };
}

describe('parseConfig: defaults', () => {
  it('fills every default of a minimal config', () => {
    const c = parseConfig(base, registries);
    expect(c.seed).toBe(0);
    expect(c.model).toEqual({ name: 'cnn-small', options: {} });
    expect(c.data).toEqual({ name: 'mnist', batchSize: 128, augment: false });
    expect(c.training).toEqual({ epochs: 1, checkpointEvery: 1, backend: 'auto', threads: 'auto' });
    expect(c.relaxation.dqa.temperature).toEqual({ shape: 'exponential', t0: 100, tEnd: 0.03 });
    expect(c.relaxation.dqa.lambda).toBe(1);
    expect(c.relaxation.dqa.init).toBe('eq7');
    expect(c.relaxation.dqa.normalize).toBe(true);
    expect(c.relaxation.dqa.g).toBeUndefined();
    expect(c.relaxation.binaryRelax).toEqual({ schedule: 'literal', growth: 1.02, refEpochs: 300 });
    expect(c.learningRate).toEqual({
      kind: 'step',
      initial: 0.1,
      milestones: [1 / 3, 2 / 3],
      gamma: 0.1,
    });
    expect(c.optimizer).toEqual({ kind: 'sgd', momentum: 0.9, weightDecay: 5e-4, nesterov: false });
    expect(c.quantization).toEqual({
      weights: null,
      activations: null,
      quantizeFirstLayer: false,
      quantizeLastLayer: false,
      overrides: [],
    });
  });

  it('fills nested defaults inside partially given sections', () => {
    const c = parseConfig(
      {
        ...base,
        relaxation: { dqa: { temperature: { t0: 10 } } },
        learningRate: { kind: 'cosine' },
        quantization: { weights: dqaWeights },
      },
      registries,
    );
    expect(c.relaxation.dqa.temperature).toEqual({ shape: 'exponential', t0: 10, tEnd: 0.03 });
    expect(c.relaxation.binaryRelax.growth).toBe(1.02);
    expect(c.learningRate).toEqual({ kind: 'cosine', initial: 0.1, final: 0 });
    expect(c.quantization.weights!.quantizers[1]).toEqual({
      id: 'minmax',
      bits: 4,
      granularity: 'tensor',
      channelAxis: -1,
    });
  });

  it('accepts the paper’s settings (DQA weights, BWN/TWN-like/FP mixture, PACT activations)', () => {
    const c = parseConfig(
      {
        ...base,
        quantization: {
          weights: {
            relaxation: 'dqa',
            quantizers: [
              { id: 'bwn', bits: 1 },
              { id: 'minmax', bits: 2 },
              { id: 'fp', bits: 32 },
            ],
          },
          activations: { relaxation: 'ste', quantizers: [{ id: 'pact', bits: 4 }] },
        },
        relaxation: { dqa: { g: [1, 4, 16], lambda: 10 } },
      },
      registries,
    );
    expect(c.quantization.weights!.quantizers.map((q) => q.id)).toEqual(['bwn', 'minmax', 'fp']);
    expect(c.quantization.activations!.relaxation).toBe('ste');
    expect(c.relaxation.dqa.g).toEqual([1, 4, 16]);
  });
});

describe('parseConfigText', () => {
  const yamlText = [
    'model:',
    '  name: cnn-small',
    'data:',
    '  name: mnist',
    '  batchSize: 64',
    'quantization:',
    '  weights:',
    '    relaxation: dqa',
    '    quantizers:',
    '      - { id: minmax, bits: 2 }',
    '      - { id: minmax, bits: 4 }',
    '      - { id: minmax, bits: 8 }',
    'relaxation:',
    '  dqa:',
    '    lambda: 0.5',
    '',
  ].join('\n');

  it('parses YAML', () => {
    const c = parseConfigText(yamlText, registries);
    expect(c.data.batchSize).toBe(64);
    expect(c.quantization.weights!.quantizers.map((q) => q.bits)).toEqual([2, 4, 8]);
    expect(c.relaxation.dqa.lambda).toBe(0.5);
  });

  it('parses JSON, as JSON and as YAML (a superset)', () => {
    const json = JSON.stringify({ ...base, seed: 7, quantization: { weights: dqaWeights } });
    const a = parseConfigText(json, registries, { format: 'json' });
    const b = parseConfigText(json, registries);
    expect(a.seed).toBe(7);
    expect(a).toEqual(b);
    // The JSON and YAML spellings of the same config agree.
    const fromYaml = parseConfigText(yamlText, registries);
    expect(fromYaml.quantization.weights).toEqual(a.quantization.weights);
  });

  it('reports a YAML syntax error as CONFIG_PARSE with the line', () => {
    const bad = 'model:\n  name: x\ndata:\n  name: mnist\n  batchSize: [1, 2\n';
    try {
      parseConfigText(bad, registries, { source: 'run.yaml' });
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(DqaError);
      expect(e).not.toBeInstanceOf(ConfigError);
      expect((e as DqaError).code).toBe('CONFIG_PARSE');
      expect((e as Error).message).toMatch(/^run\.yaml: invalid YAML/);
      expect((e as Error).message).toMatch(/line 6, column 1/);
    }
    try {
      parseConfigText('model:\n  name: x\n data: y\n', registries);
      expect.unreachable();
    } catch (e) {
      expect((e as DqaError).code).toBe('CONFIG_PARSE');
      expect((e as Error).message).toMatch(/line 3/);
    }
    // Duplicate keys are a YAML error too, on the line of the second key.
    expect(() => parseConfigText('seed: 1\nseed: 2\n', registries)).toThrow(/line 2/);
  });

  it('reports invalid JSON as CONFIG_PARSE', () => {
    try {
      parseConfigText('{"model": ', registries, { format: 'json', source: 'x.json' });
      expect.unreachable();
    } catch (e) {
      expect((e as DqaError).code).toBe('CONFIG_PARSE');
      expect((e as Error).message).toMatch(/^x\.json: invalid JSON/);
    }
  });

  it('reports validation errors as ConfigError naming the source', () => {
    try {
      parseConfigText('model: { name: a }\n', registries, { source: 'cfg.yml' });
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      expect((e as ConfigError).issues.map((i) => i.path)).toEqual(['data']);
      expect((e as Error).message).toMatch(/invalid configuration in cfg\.yml \(1 problem\)/);
      expect((e as Error).message).toMatch(/\n {2}data: /);
    }
  });

  it('an empty document is one issue at the root', () => {
    const issues = (() => {
      try {
        parseConfigText('', registries);
      } catch (e) {
        return (e as ConfigError).issues;
      }
      return [];
    })();
    expect(issues).toHaveLength(1);
    expect(issues[0]!.path).toBe('');
    try {
      parseConfigText('', registries);
    } catch (e) {
      expect((e as Error).message).toMatch(/\(root\)/);
    }
  });
});

describe('parseConfig: every error names its key path', () => {
  it('unknown top-level key with a "did you mean" suggestion', () => {
    const issue = expectIssue(
      { ...base, quantizaton: { weights: null } },
      'quantizaton',
      /unknown key \(did you mean 'quantization'\?\)/,
    );
    expect(issue.message).toMatch(/allowed here: seed, model, data, .*quantization, relaxation/);
  });

  it('unknown nested keys with suggestions', () => {
    expectIssue(
      { ...base, quantization: { weigths: dqaWeights } },
      'quantization.weigths',
      /did you mean 'weights'/,
    );
    expectIssue(
      withWeights({ relaxation: 'ste', quantizers: [{ id: 'minmax', bitz: 2 }] }),
      'quantization.weights.quantizers[0].bitz',
      /did you mean 'bits'/,
    );
    expectIssue(
      { ...base, relaxation: { dqa: { temprature: { t0: 5 } } } },
      'relaxation.dqa.temprature',
      /did you mean 'temperature'/,
    );
  });

  it('unknown key inside the learning-rate union suggests the right key', () => {
    expectIssue(
      { ...base, learningRate: { kind: 'step', milestone: [0.5] } },
      'learningRate.milestone',
      /did you mean 'milestones'\?.*allowed here: kind, initial, milestones, gamma/,
    );
    const cos = expectIssue(
      { ...base, learningRate: { kind: 'cosine', finall: 0.01 } },
      'learningRate.finall',
      /did you mean 'final'/,
    );
    expect(cos.message).not.toMatch(/milestones/);
  });

  it('a far-off unknown key gets no suggestion', () => {
    const issue = expectIssue({ ...base, zzzzzzzz: 1 }, 'zzzzzzzz', /unknown key;/);
    expect(issue.message).not.toMatch(/did you mean/);
  });

  it('bits a quantizer does not accept', () => {
    expectIssue(
      withWeights({ relaxation: 'ste', quantizers: [{ id: 'bwn', bits: 2 }] }),
      'quantization.weights.quantizers[0].bits',
      /quantizer 'bwn' accepts bits 1 only, got 2/,
    );
    expectIssue(
      withWeights({
        relaxation: 'dqa',
        quantizers: [
          { id: 'minmax', bits: 2 },
          { id: 'minmax', bits: 17 },
        ],
      }),
      'quantization.weights.quantizers[1].bits',
      /accepts bits 2–16 \(integers\), got 17/,
    );
    expectIssue(
      withWeights({ relaxation: 'ste', quantizers: [{ id: 'minmax', bits: 2.5 }] }),
      'quantization.weights.quantizers[0].bits',
      /expected int/,
    );
  });

  it('T(B) ≥ T0', () => {
    expectIssue(
      { ...base, relaxation: { dqa: { temperature: { t0: 1, tEnd: 2 } } } },
      'relaxation.dqa.temperature.tEnd',
      /T\(B\) = 2 must be below T0 = 1/,
    );
    expectIssue(
      { ...base, relaxation: { dqa: { temperature: { t0: 0.03 } } } },
      'relaxation.dqa.temperature.tEnd',
      /must be below/,
    );
    expectIssue(
      { ...base, relaxation: { dqa: { temperature: { t0: -1 } } } },
      'relaxation.dqa.temperature.t0',
      /.+/,
    );
  });

  it('K = 0 (empty quantizer list)', () => {
    expectIssue(
      withWeights({ relaxation: 'dqa', quantizers: [] }),
      'quantization.weights.quantizers',
      /K = 0/,
    );
  });

  it('g not strictly increasing', () => {
    expectIssue(
      withWeights(dqaWeights, { relaxation: { dqa: { g: [1, 4, 4] } } }),
      'relaxation.dqa.g',
      /strictly increasing .*got \[1, 4, 4\]/,
    );
    expectIssue(
      withWeights(dqaWeights, { relaxation: { dqa: { g: [16, 4, 1] } } }),
      'relaxation.dqa.g',
      /strictly increasing/,
    );
  });

  it('g or α init whose length differs from K', () => {
    expectIssue(
      withWeights(dqaWeights, { relaxation: { dqa: { g: [1, 4] } } }),
      'relaxation.dqa.g',
      /has 2 entries but quantization\.weights uses K = 3 quantizers/,
    );
    expectIssue(
      withWeights(dqaWeights, { relaxation: { dqa: { init: [1, 0, 0, 0] } } }),
      'relaxation.dqa.init',
      /has 4 entries but quantization\.weights uses K = 3/,
    );
  });

  it('unknown quantizer id lists the known ones', () => {
    const issue = expectIssue(
      withWeights({ relaxation: 'ste', quantizers: [{ id: 'minmx', bits: 2 }] }),
      'quantization.weights.quantizers[0].id',
      /unknown quantizer 'minmx' \(did you mean 'minmax'\?\)/,
    );
    expect(issue.message).toMatch(/known: 'conformance-uniform', 'minmax', 'bwn', 'pact', 'fp'/);
  });

  it('unknown relaxation id lists the known ones', () => {
    expectIssue(
      withWeights({ relaxation: 'dqaa', quantizers: dqaWeights.quantizers }),
      'quantization.weights.relaxation',
      /unknown relaxation 'dqaa' \(did you mean 'dqa'\?\); known: 'ste', 'binary-relax', 'dqa', 'qnet'/,
    );
  });

  it('the number of quantizers a relaxation takes', () => {
    expectIssue(
      withWeights({
        relaxation: 'ste',
        quantizers: [
          { id: 'minmax', bits: 2 },
          { id: 'minmax', bits: 4 },
        ],
      }),
      'quantization.weights.quantizers',
      /relaxation 'ste' takes exactly 1 quantizers, got K = 2/,
    );
    expectIssue(
      withWeights({ relaxation: 'dqa', quantizers: [{ id: 'minmax', bits: 2 }] }),
      'quantization.weights.quantizers',
      /relaxation 'dqa' takes 2 to 16 quantizers, got K = 1/,
    );
    expectIssue(
      withWeights({ relaxation: 'binary-relax', quantizers: [{ id: 'bwn', bits: 1 }] }),
      'quantization.weights.quantizers',
      /'binary-relax' takes 2 to 16/,
    );
  });

  it('bitwidths that are not strictly increasing', () => {
    expectIssue(
      withWeights({
        relaxation: 'dqa',
        quantizers: [
          { id: 'minmax', bits: 8 },
          { id: 'minmax', bits: 4 },
          { id: 'minmax', bits: 2 },
        ],
      }),
      'quantization.weights.quantizers[1].bits',
      /strictly increasing bitwidth .*got 8, 4, 2/,
    );
    expectIssue(
      withWeights({
        relaxation: 'dqa',
        quantizers: [
          { id: 'minmax', bits: 2 },
          { id: 'minmax', bits: 4 },
          { id: 'minmax', bits: 4 },
        ],
      }),
      'quantization.weights.quantizers[2].bits',
      /strictly increasing/,
    );
    // An identity quantizer counts as 32 bit wherever it stands.
    expectIssue(
      withWeights({
        relaxation: 'binary-relax',
        quantizers: [
          { id: 'fp', bits: 32 },
          { id: 'minmax', bits: 2 },
        ],
      }),
      'quantization.weights.quantizers[1].bits',
      /got 32, 2/,
    );
  });

  it('quantizers used for the wrong target', () => {
    expectIssue(
      withWeights({ relaxation: 'ste', quantizers: [{ id: 'pact', bits: 4 }] }),
      'quantization.weights.quantizers[0].id',
      /quantizer 'pact' cannot quantize weights \(it quantizes activations\)/,
    );
    expectIssue(
      {
        ...base,
        quantization: { activations: { relaxation: 'ste', quantizers: [{ id: 'bwn', bits: 1 }] } },
      },
      'quantization.activations.quantizers[0].id',
      /quantizer 'bwn' cannot quantize activations \(it quantizes weights\)/,
    );
  });

  it('a granularity the quantizer does not support', () => {
    expectIssue(
      withWeights({
        relaxation: 'ste',
        quantizers: [{ id: 'bwn', bits: 1, granularity: 'channel' }],
      }),
      'quantization.weights.quantizers[0].granularity',
      /supports granularity 'tensor', got 'channel'/,
    );
    // minmax supports both.
    expect(() =>
      parseConfig(
        withWeights({
          relaxation: 'ste',
          quantizers: [{ id: 'minmax', bits: 2, granularity: 'channel' }],
        }),
        registries,
      ),
    ).not.toThrow();
  });

  it('per-layer overrides are validated at their own path', () => {
    expectIssue(
      {
        ...base,
        quantization: {
          weights: dqaWeights,
          overrides: [
            { layers: 'conv1', weights: null },
            {
              layers: ['block2.*'],
              weights: { relaxation: 'ste', quantizers: [{ id: 'bwn', bits: 3 }] },
            },
          ],
        },
      },
      'quantization.overrides[1].weights.quantizers[0].bits',
      /accepts bits 1 only, got 3/,
    );
    expectIssue(
      {
        ...base,
        quantization: {
          overrides: [
            {
              layers: 'fc',
              activations: { relaxation: 'ste', quantizers: [{ id: 'bwn', bits: 1 }] },
            },
          ],
        },
      },
      'quantization.overrides[0].activations.quantizers[0].id',
      /cannot quantize activations/,
    );
    expectIssue(
      { ...base, quantization: { overrides: [{ layers: [] }] } },
      'quantization.overrides[0].layers',
      /.+/,
    );
  });

  it('milestones must increase; ranges are checked', () => {
    expectIssue(
      { ...base, learningRate: { kind: 'step', milestones: [0.6, 0.3] } },
      'learningRate.milestones',
      /increasing fractions of training, got \[0.6, 0.3\]/,
    );
    expectIssue(
      { ...base, learningRate: { kind: 'step', milestones: [0.5, 1] } },
      'learningRate.milestones[1]',
      /.+/,
    );
    expectIssue({ ...base, optimizer: { momentum: 1 } }, 'optimizer.momentum', /.+/);
    expectIssue({ ...base, seed: -1 }, 'seed', /.+/);
    expectIssue({ ...base, data: { name: 'mnist', batchSize: 0 } }, 'data.batchSize', /.+/);
  });

  it('collects every problem at once', () => {
    const issues = issuesOf({
      ...base,
      quantization: {
        weights: {
          relaxation: 'dqa',
          quantizers: [
            { id: 'bwn', bits: 2 },
            { id: 'nope', bits: 4 },
          ],
        },
      },
      relaxation: { dqa: { temperature: { t0: 1, tEnd: 1 }, g: [2, 1] } },
    });
    expect(issues.map((i) => i.path).sort()).toEqual(
      [
        'quantization.weights.quantizers[0].bits',
        'quantization.weights.quantizers[1].id',
        'relaxation.dqa.g',
        'relaxation.dqa.temperature.tEnd',
      ].sort(),
    );
    try {
      parseConfig(
        { ...base, relaxation: { dqa: { temperature: { t0: 1, tEnd: 1 }, g: [2, 1] } } },
        registries,
      );
    } catch (e) {
      expect((e as Error).message).toMatch(/\(2 problems\)/);
    }
  });

  it('uses the given relaxation registry', () => {
    expect(() =>
      parseConfig(withWeights(dqaWeights), {
        quantizers: registries.quantizers,
        relaxations: new Registry<Relaxation<never>>('relaxation'),
      }),
    ).toThrow(/unknown relaxation 'dqa'.*\(none registered\)/);
  });
});

describe('formatPath and suggest', () => {
  it('formats zod paths', () => {
    expect(formatPath([])).toBe('');
    expect(formatPath(['a'])).toBe('a');
    expect(formatPath(['quantization', 'weights', 'quantizers', 1, 'bits'])).toBe(
      'quantization.weights.quantizers[1].bits',
    );
    expect(formatPath([0, 'x'])).toBe('[0].x');
  });

  it('suggests close names only', () => {
    expect(suggest('weigths', ['weights', 'activations'])).toBe('weights');
    expect(suggest('Seed', ['seed', 'model'])).toBe('seed');
    expect(suggest('completely-different', ['seed', 'model'])).toBeUndefined();
    expect(suggest('x', [])).toBeUndefined();
  });
});

describe('loadConfigFile', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dqa-config-'));
  });
  afterAll(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const write = (name: string, text: string): string => {
    const p = path.join(dir, name);
    fs.writeFileSync(p, text);
    return p;
  };

  it('reads .yaml, .yml and .json files', async () => {
    const y = write('a.yaml', 'model: { name: m }\ndata: { name: d, batchSize: 32 }\n');
    const y2 = write('b.YML', 'model: { name: m }\ndata: { name: d }\nseed: 3\n');
    const j = write('c.json', JSON.stringify({ ...base, quantization: { weights: dqaWeights } }));
    expect((await loadConfigFile(y, registries)).data.batchSize).toBe(32);
    expect((await loadConfigFile(y2, registries)).seed).toBe(3);
    const c: DqaConfig = await loadConfigFile(j, registries);
    expect(c.quantization.weights!.relaxation).toBe('dqa');
  });

  it('a missing file is CONFIG_FILE naming the path', async () => {
    const missing = path.join(dir, 'nope.yaml');
    const err = await loadConfigFile(missing, registries).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DqaError);
    expect((err as DqaError).code).toBe('CONFIG_FILE');
    expect((err as Error).message).toContain(missing);
    expect((err as Error).message).toMatch(/no such file/);
  });

  it('a directory is CONFIG_FILE', async () => {
    const sub = path.join(dir, 'folder.json');
    fs.mkdirSync(sub);
    const err = await loadConfigFile(sub, registries).catch((e: unknown) => e);
    expect((err as DqaError).code).toBe('CONFIG_FILE');
    expect((err as Error).message).toMatch(/is a directory/);
  });

  it('a wrong extension is CONFIG_FILE naming the path', async () => {
    const p = write('config.txt', 'model: { name: m }\n');
    const err = await loadConfigFile(p, registries).catch((e: unknown) => e);
    expect((err as DqaError).code).toBe('CONFIG_FILE');
    expect((err as Error).message).toContain(p);
    expect((err as Error).message).toMatch(/\.json, \.yaml or \.yml/);
  });

  it('syntax and validation errors name the file', async () => {
    const badJson = write('bad.json', '{ "model": { "name": "m" }, }');
    const e1 = await loadConfigFile(badJson, registries).catch((e: unknown) => e);
    expect((e1 as DqaError).code).toBe('CONFIG_PARSE');
    expect((e1 as Error).message).toContain(badJson);
    expect((e1 as Error).message).toMatch(/invalid JSON/);

    const badYaml = write('bad.yaml', 'model:\n  name: m\n data: x\n');
    const e2 = await loadConfigFile(badYaml, registries).catch((e: unknown) => e);
    expect((e2 as DqaError).code).toBe('CONFIG_PARSE');
    expect((e2 as Error).message).toContain(badYaml);
    expect((e2 as Error).message).toMatch(/line 3/);

    const invalid = write('invalid.yml', 'model: { name: m }\ndata: { name: d }\nseeed: 1\n');
    const e3 = await loadConfigFile(invalid, registries).catch((e: unknown) => e);
    expect(e3).toBeInstanceOf(ConfigError);
    expect((e3 as ConfigError).issues[0]!.path).toBe('seeed');
    expect((e3 as Error).message).toContain(`invalid configuration in ${invalid}`);
  });
});

describe('matchesLayer', () => {
  it('matches exact names and * globs over the whole name', () => {
    expect(matchesLayer('conv1', 'conv1')).toBe(true);
    expect(matchesLayer('conv1', 'conv10')).toBe(false);
    expect(matchesLayer('conv1', 'block.conv1')).toBe(false);
    expect(matchesLayer('block2.*', 'block2.conv1')).toBe(true);
    expect(matchesLayer('block2.*', 'block2.')).toBe(true);
    expect(matchesLayer('block2.*', 'block20.conv1')).toBe(false);
    expect(matchesLayer('block2.*', 'block2xconv1')).toBe(false);
    expect(matchesLayer('*', 'anything.at/all')).toBe(true);
    expect(matchesLayer('*.bn', 'block1.bn')).toBe(true);
    expect(matchesLayer('*.bn', 'block1.bn2')).toBe(false);
    expect(matchesLayer('a*b*c', 'a-x-b-y-c')).toBe(true);
    expect(matchesLayer('a*b*c', 'acb')).toBe(false);
  });

  it('treats regex metacharacters literally', () => {
    expect(matchesLayer('fc(1)', 'fc(1)')).toBe(true);
    expect(matchesLayer('fc(1)', 'fc1')).toBe(false);
    expect(matchesLayer('a+b', 'aab')).toBe(false);
    expect(matchesLayer('a+b', 'a+b')).toBe(true);
    expect(matchesLayer('x[0]', 'x[0]')).toBe(true);
    expect(matchesLayer('x?', 'x')).toBe(false);
  });
});

describe('resolveLayerQuantization', () => {
  const ste2 = { relaxation: 'ste', quantizers: [{ id: 'minmax', bits: 2 }] };
  const ste4 = { relaxation: 'ste', quantizers: [{ id: 'minmax', bits: 4 }] };
  const act8 = { relaxation: 'ste', quantizers: [{ id: 'pact', bits: 8 }] };
  const layer = (name: string, isFirst = false, isLast = false) => ({ name, isFirst, isLast });

  it('keeps the first and last layer in float by default', () => {
    const c = parseConfig(
      { ...base, quantization: { weights: dqaWeights, activations: act8 } },
      registries,
    );
    expect(resolveLayerQuantization(c, layer('conv1', true))).toEqual({
      weights: null,
      activations: null,
    });
    expect(resolveLayerQuantization(c, layer('fc', false, true))).toEqual({
      weights: null,
      activations: null,
    });
    const mid = resolveLayerQuantization(c, layer('block1.conv1'));
    expect(mid.weights).toBe(c.quantization.weights);
    expect(mid.activations).toBe(c.quantization.activations);
  });

  it('quantizeFirstLayer / quantizeLastLayer opt in', () => {
    const c = parseConfig(
      { ...base, quantization: { weights: dqaWeights, quantizeFirstLayer: true } },
      registries,
    );
    expect(resolveLayerQuantization(c, layer('conv1', true)).weights).toBe(c.quantization.weights);
    expect(resolveLayerQuantization(c, layer('fc', false, true)).weights).toBeNull();
    const d = parseConfig(
      { ...base, quantization: { weights: dqaWeights, quantizeLastLayer: true } },
      registries,
    );
    expect(resolveLayerQuantization(d, layer('fc', false, true)).weights).toBe(
      d.quantization.weights,
    );
    // A single-layer model is both first and last: float unless both are opted in.
    expect(resolveLayerQuantization(d, layer('only', true, true)).weights).toBeNull();
  });

  it('applies matching overrides in order, later ones winning, null meaning float', () => {
    const c = parseConfig(
      {
        ...base,
        quantization: {
          weights: dqaWeights,
          activations: act8,
          overrides: [
            { layers: 'block2.*', weights: ste2 },
            { layers: ['block2.conv2', 'head'], weights: ste4 },
            { layers: 'block3.*', weights: null },
            { layers: 'block3.conv1', activations: null },
          ],
        },
      },
      registries,
    );
    const [o0, o1] = c.quantization.overrides;
    const b21 = resolveLayerQuantization(c, layer('block2.conv1'));
    expect(b21.weights).toBe(o0!.weights);
    expect(b21.weights!.quantizers[0]!.bits).toBe(2);
    expect(b21.activations).toBe(c.quantization.activations);
    const b22 = resolveLayerQuantization(c, layer('block2.conv2'));
    expect(b22.weights).toBe(o1!.weights);
    expect(b22.weights!.quantizers[0]!.bits).toBe(4);
    expect(resolveLayerQuantization(c, layer('block3.conv1'))).toEqual({
      weights: null,
      activations: null,
    });
    const b32 = resolveLayerQuantization(c, layer('block3.conv2'));
    expect(b32.weights).toBeNull();
    expect(b32.activations).toBe(c.quantization.activations);
    expect(resolveLayerQuantization(c, layer('block1.conv1')).weights).toBe(c.quantization.weights);
  });

  it('an override can quantize a first layer that is float by default', () => {
    const c = parseConfig(
      {
        ...base,
        quantization: { weights: dqaWeights, overrides: [{ layers: 'conv1', weights: ste4 }] },
      },
      registries,
    );
    const r = resolveLayerQuantization(c, layer('conv1', true));
    expect(r.weights!.quantizers[0]!.bits).toBe(4);
    expect(r.activations).toBeNull();
  });
});
