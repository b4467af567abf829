import { describe, expect, it } from 'vitest';
import {
  createReferenceBackend,
  createRelaxedQuantizer,
  parseConfig,
  type Variable,
} from '../src/index.js';
import { fakeQuantizers } from './fake-plugins.js';

describe('relaxations create their variables through the given factory', () => {
  it('DQA α and PACT α come from makeVariable, with their names, values and shapes', () => {
    const b = createReferenceBackend();
    const quantizers = fakeQuantizers();
    const made: { name: string; values: number[]; shape: number[] }[] = [];
    const makeVariable = (
      name: string,
      values: readonly number[],
      shape: readonly number[],
    ): Variable => {
      made.push({ name, values: [...values], shape: [...shape] });
      return b.tidy(() => b.variable(b.tensor(values, shape), { name: `framework/${name}` }));
    };
    const cfg = parseConfig(
      {
        model: { name: 'm' },
        data: { name: 'd' },
        quantization: {
          activations: {
            relaxation: 'dqa',
            quantizers: [
              { id: 'pact', bits: 2 },
              { id: 'pact', bits: 8 },
            ],
          },
        },
      },
      { quantizers },
    );
    const rq = createRelaxedQuantizer(b, cfg.quantization.activations!, {
      name: 'conv1/input',
      rank: 4,
      target: 'activations',
      quantizers,
      relaxationConfig: cfg.relaxation,
      makeVariable,
    });
    expect(made.map((m) => m.name)).toEqual([
      'conv1/input/pact2/alpha',
      'conv1/input/pact8/alpha',
      'conv1/input/dqa_alpha',
    ]);
    expect(made[2]!.values.map((v) => +v.toFixed(4))).toEqual([0.8, 0.2]); // eq. 7 for [2, 8]
    expect(made[2]!.shape).toEqual([2]);
    expect(rq.variables.map((v) => v.name)).toEqual([
      'framework/conv1/input/dqa_alpha',
      'framework/conv1/input/pact2/alpha',
      'framework/conv1/input/pact8/alpha',
    ]);
    rq.dispose();
  });
});
