import { createTfjsBackend, quantizeModel } from '@dqa/tfjs';
import type * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { resnet20, smallCnn, trainableParams } from '../src/speed/models.js';
import { speedVariants } from '../src/speed/spec.js';

beforeAll(async () => {
  await createTfjsBackend({ engine: 'cpu' });
});

const classes = (m: tf.LayersModel) => m.layers.map((l) => l.getClassName());

describe('speed benchmark models', () => {
  it('small CNN: conv 1→32, pool, conv 32→64, pool, dense 3136→10 (50 186 parameters)', () => {
    const m = smallCnn();
    expect(m.outputs[0]!.shape).toEqual([null, 10]);
    expect(m.getLayer('logits').getWeights()[0]!.shape).toEqual([3136, 10]);
    expect(trainableParams(m)).toBe(320 + 18_496 + 31_370);
    m.dispose();
  });

  it('ResNet-20: 19 3×3 convs, 2 projection shortcuts at stride 2, ≈ 0.27 M parameters', () => {
    const m = resnet20();
    const names = m.layers.map((l) => l.name);
    const convs = m.layers.filter((l) => l.getClassName() === 'Conv2D');
    expect(convs).toHaveLength(21);
    expect(names.filter((n) => n.endsWith('_proj'))).toEqual(['s2b1_proj', 's3b1_proj']);
    expect(m.getLayer('s2b1_proj').getWeights()[0]!.shape).toEqual([1, 1, 16, 32]);
    expect(m.getLayer('s3b1_proj').getWeights()[0]!.shape).toEqual([1, 1, 32, 64]);
    expect(classes(m).filter((c) => c === 'BatchNormalization')).toHaveLength(21);
    expect(m.outputs[0]!.shape).toEqual([null, 10]);
    const params = trainableParams(m);
    // 269 722 for the paper's option-A ResNet-20, plus 2 560 projection weights and their norms.
    expect(params).toBe(272_474);
    expect(params / 1e6).toBeCloseTo(0.27, 2);
    m.dispose();
  });

  it('the quantized variants quantize every Conv2D and Dense layer, first and last included', async () => {
    const backend = await createTfjsBackend({ engine: 'cpu' });
    for (const id of ['ste2', 'dqa248'] as const) {
      const q = await quantizeModel(resnet20(), speedVariants[id].config!, { backend });
      const quantizable = q.plan.filter((p) => p.className === 'Conv2D' || p.className === 'Dense');
      expect(quantizable).toHaveLength(22);
      expect(
        quantizable.every(
          (p) =>
            p.weights?.relaxation === speedVariants[id].config!.quantization.weights.relaxation,
        ),
      ).toBe(true);
      expect(
        q.plan.filter((p) => p.className === 'BatchNormalization').every((p) => p.weights === null),
      ).toBe(true);
      q.model.dispose();
    }
  });
});
