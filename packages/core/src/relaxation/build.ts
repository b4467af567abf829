import type { Backend, Variable } from '../backend/backend.js';
import type { DqaConfig, TensorQuantConfig } from '../config/schema.js';
import { ArgumentError } from '../errors.js';
import { checkBits, type QuantTarget } from '../quantizer/plugin.js';
import type { QuantizerRegistry } from '../quantizer/registry.js';
import type { Registry } from '../registry.js';
import { relaxations as defaultRelaxations } from './index.js';
import {
  backendVariables,
  type LayerQuantizer,
  type Relaxation,
  type RelaxedQuantizer,
  type VariableFactory,
} from './relaxation.js';

export interface BuildRelaxedOptions {
  /** Name of the tensor (`conv1/weights`), used for variable names and messages. */
  name: string;
  /** Rank of the tensor being quantized (to resolve a negative channel axis). */
  rank: number;
  target: QuantTarget;
  quantizers: QuantizerRegistry;
  relaxations?: Registry<Relaxation<never>>;
  /** Creates the trainable variables (default: backend variables). */
  makeVariable?: VariableFactory;
  /**
   * Relaxation hyperparameters (the config's `relaxation` section); a section left out takes the
   * relaxation's defaults.
   */
  relaxationConfig?: Partial<DqaConfig['relaxation']>;
}

/**
 * Builds a layer's relaxed quantizer from its configuration: looks the plugins up, checks bits and
 * targets, creates the plugins' learnable parameters (PACT's α) as variables, and hands them to
 * the relaxation.
 */
export function createRelaxedQuantizer(
  b: Backend,
  spec: TensorQuantConfig,
  o: BuildRelaxedOptions,
): RelaxedQuantizer {
  const relax = (o.relaxations ?? defaultRelaxations).get(spec.relaxation);
  const K = spec.quantizers.length;
  if (K < relax.minQuantizers || K > relax.maxQuantizers) {
    throw new ArgumentError(
      `${o.name}: relaxation '${relax.id}' takes ${relax.minQuantizers}–${relax.maxQuantizers} quantizers, got ${K}`,
    );
  }
  const makeVariable = o.makeVariable ?? backendVariables(b);
  const created: Variable[] = [];
  try {
    const layerQuantizers: LayerQuantizer[] = spec.quantizers.map((q) => {
      const plugin = o.quantizers.get(q.id);
      checkBits(plugin, q.bits);
      if (!plugin.targets.includes(o.target)) {
        throw new ArgumentError(`${o.name}: quantizer '${q.id}' cannot quantize ${o.target}`);
      }
      const axis = q.channelAxis < 0 ? q.channelAxis + o.rank : q.channelAxis;
      if (q.granularity === 'channel' && !(axis >= 0 && axis < o.rank)) {
        throw new ArgumentError(
          `${o.name}: channel axis ${q.channelAxis} is out of range for a rank-${o.rank} tensor`,
        );
      }
      const params: Record<string, Variable> = {};
      for (const p of plugin.parameters ?? []) {
        const v = makeVariable(`${o.name}/${q.id}${q.bits}/${p.name}`, [p.init(q.bits)], []);
        created.push(v);
        params[p.name] = v;
      }
      return { plugin, bits: q.bits, granularity: q.granularity, channelAxis: axis, params };
    });
    const options =
      relax.id === 'dqa'
        ? o.relaxationConfig?.dqa
        : relax.id === 'binary-relax'
          ? o.relaxationConfig?.binaryRelax
          : relax.id === 'qnet'
            ? o.relaxationConfig?.qnet
            : undefined;
    return (relax as Relaxation<unknown>).create(
      b,
      o.name,
      layerQuantizers,
      options ?? {},
      makeVariable,
    );
  } catch (e) {
    b.dispose(created);
    throw e;
  }
}
