import { Registry } from '../registry.js';
import { type QuantizerPlugin, validateQuantizer } from './plugin.js';

/** The quantizer plugin registry type; `@dqa/quantizers` exports one filled with the paper's. */
export type QuantizerRegistry = Registry<QuantizerPlugin>;

/** A new, empty quantizer registry (plugins are validated on registration). */
export function createQuantizerRegistry(
  plugins: readonly QuantizerPlugin[] = [],
): QuantizerRegistry {
  const r = new Registry<QuantizerPlugin>('quantizer', validateQuantizer);
  for (const p of plugins) r.register(p);
  return r;
}
