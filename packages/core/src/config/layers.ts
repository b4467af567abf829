import type { DqaConfig, TensorQuantConfig } from './schema.js';

/** Whether `name` matches a pattern where `*` stands for any run of characters. */
export function matchesLayer(pattern: string, name: string): boolean {
  const escaped = pattern.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'));
  return new RegExp(`^${escaped.join('.*')}$`).test(name);
}

export interface LayerQuantization {
  weights: TensorQuantConfig | null;
  activations: TensorQuantConfig | null;
}

/**
 * How a layer is quantized under `config`: the defaults, minus the first/last layer when those
 * are kept in float, then every matching override in order (later ones win).
 */
export function resolveLayerQuantization(
  config: DqaConfig,
  layer: { name: string; isFirst: boolean; isLast: boolean },
): LayerQuantization {
  const q = config.quantization;
  const keepFloat =
    (layer.isFirst && !q.quantizeFirstLayer) || (layer.isLast && !q.quantizeLastLayer);
  const out: LayerQuantization = {
    weights: keepFloat ? null : q.weights,
    activations: keepFloat ? null : q.activations,
  };
  for (const o of q.overrides) {
    const patterns = typeof o.layers === 'string' ? [o.layers] : o.layers;
    if (!patterns.some((p) => matchesLayer(p, layer.name))) continue;
    if (o.weights !== undefined) out.weights = o.weights;
    if (o.activations !== undefined) out.activations = o.activations;
  }
  return out;
}
