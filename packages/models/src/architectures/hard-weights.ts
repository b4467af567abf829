import type { Backend } from '@dqa/core';
import { PARAMETER_SUFFIX, type ParameterRole, parameterSpecs } from './analysis.js';
import type { BuiltModel } from './build.js';
import type { ModelNode } from './spec.js';

/** One tensor's values, row-major. */
export interface WeightArray {
  shape: number[];
  values: Float32Array;
}

/** The values of one node's variables as the deployed low-bit model uses them. */
export interface HardLayerWeights {
  name: string;
  op: ModelNode['op'];
  /** Whether `kernel` holds Q_1(w) (the layer has a weight quantizer) rather than the float w. */
  quantized: boolean;
  /** By role: `kernel`, `bias`, `gamma`, `beta`, `movingMean`, `movingVariance`, where present. */
  weights: Partial<Record<ParameterRole, WeightArray>>;
}

/**
 * Every node that has variables, in spec order, with its values for export (ONNX, tfjs-layers):
 * a quantized layer's kernel through its collapsed hard quantizer Q_1 (what `ctx.hard` uses),
 * everything else as stored. Activation quantization is in `model.plan`.
 */
export async function hardWeights(b: Backend, model: BuiltModel): Promise<HardLayerWeights[]> {
  const quantizerOf = new Map(model.layers.map((l) => [l.node.name, l.weightQuantizer]));
  const ops = new Map(model.spec.nodes.map((n) => [n.name, n.op]));
  const byLayer = new Map<string, HardLayerWeights>();
  for (const p of parameterSpecs(model.spec)) {
    let entry = byLayer.get(p.layer);
    if (!entry) {
      entry = { name: p.layer, op: ops.get(p.layer)!, quantized: false, weights: {} };
      byLayer.set(p.layer, entry);
    }
    const v = model.parameter(`${p.layer}/${PARAMETER_SUFFIX[p.role]}`);
    const q = p.role === 'kernel' ? quantizerOf.get(p.layer) : null;
    let values: Float32Array;
    if (q) {
      const hard = b.tidy(() => q.hard(v));
      values = await b.read(hard);
      b.dispose(hard);
      entry.quantized = true;
    } else values = await b.read(v);
    entry.weights[p.role] = { shape: [...p.shape], values };
  }
  return [...byLayer.values()];
}
