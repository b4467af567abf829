import { parse as parseYaml, YAMLParseError } from 'yaml';
import { z } from 'zod';
import { DqaError } from '../errors.js';
import { acceptsBits, describeBits, type QuantTarget } from '../quantizer/plugin.js';
import type { QuantizerRegistry } from '../quantizer/registry.js';
import type { Registry } from '../registry.js';
import { relaxations as defaultRelaxations } from '../relaxation/index.js';
import type { Relaxation } from '../relaxation/relaxation.js';
import { configSchema, type DqaConfig, type TensorQuantConfig } from './schema.js';

export interface ConfigIssue {
  /** Key path, e.g. `quantization.weights.quantizers[1].bits`. */
  path: string;
  message: string;
}

/** A configuration failed validation; `issues` lists every problem with its key path. */
export class ConfigError extends DqaError {
  readonly issues: readonly ConfigIssue[];

  constructor(issues: readonly ConfigIssue[], source?: string) {
    const where = source ? ` in ${source}` : '';
    const lines = issues.map((i) => `  ${i.path || '(root)'}: ${i.message}`);
    super(
      'CONFIG_INVALID',
      `invalid configuration${where} (${issues.length} problem${issues.length === 1 ? '' : 's'}):\n${lines.join('\n')}`,
    );
    this.issues = issues;
  }
}

export interface ConfigRegistries {
  /** Known quantizer plugins (`quantizers` from @dqa/quantizers). */
  quantizers: QuantizerRegistry;
  /** Known relaxations; default: core's (`ste`, `binary-relax`, `dqa`, `qnet`). */
  relaxations?: Registry<Relaxation<never>>;
}

/** `a.b[2].c` from a zod path. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out ? `.${String(p)}` : String(p);
  }
  return out;
}

function editDistance(a: string, b: string): number {
  const dp = Array.from({ length: a.length + 1 }, (_, i) => [
    i,
    ...new Array<number>(b.length).fill(0),
  ]);
  for (let j = 1; j <= b.length; j++) dp[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      dp[i]![j] = Math.min(dp[i - 1]![j]! + 1, dp[i]![j - 1]! + 1, dp[i - 1]![j - 1]! + cost);
    }
  }
  return dp[a.length]![b.length]!;
}

/** The closest of `candidates` to `name`, if it is close enough to be a typo. */
export function suggest(name: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Number.POSITIVE_INFINITY;
  for (const c of candidates) {
    const d = editDistance(name.toLowerCase(), c.toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(name.length / 3)) ? best : undefined;
}

/**
 * Keys a strict object schema accepts at `path` (for "did you mean" hints). `input` is the value
 * being parsed, used to pick the option of a discriminated union (`learningRate.kind`).
 */
function knownKeysAt(path: readonly PropertyKey[], input: unknown): string[] {
  let schema: z.ZodType = configSchema;
  let value: unknown = input;
  for (const p of path) {
    schema = unwrap(schema);
    value = (value as Record<PropertyKey, unknown> | null | undefined)?.[p];
    if (schema instanceof z.ZodObject) {
      const next = (schema.shape as Record<string, z.ZodType>)[String(p)];
      if (!next) return [];
      schema = next;
    } else if (schema instanceof z.ZodArray) {
      schema = schema.element as z.ZodType;
    } else return [];
  }
  schema = unwrap(schema);
  if (schema instanceof z.ZodDiscriminatedUnion) {
    const key = schema.def.discriminator;
    const tag = (value as Record<string, unknown> | null | undefined)?.[key];
    const option = (schema.options as z.ZodType[]).find(
      (o) =>
        o instanceof z.ZodObject &&
        (o.shape as Record<string, z.ZodType>)[key]?.safeParse(tag).success,
    );
    schema = option ?? schema;
  }
  return schema instanceof z.ZodObject ? Object.keys(schema.shape) : [];
}

function unwrap(s: z.ZodType): z.ZodType {
  let cur = s;
  for (let i = 0; i < 8; i++) {
    if (
      cur instanceof z.ZodDefault ||
      cur instanceof z.ZodOptional ||
      cur instanceof z.ZodNullable
    ) {
      cur = cur.unwrap() as z.ZodType;
    } else break;
  }
  return cur;
}

function toIssues(error: z.ZodError, input: unknown): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  for (const issue of error.issues) {
    if (issue.code === 'unrecognized_keys') {
      const known = knownKeysAt(issue.path, input);
      for (const key of issue.keys) {
        const hint = suggest(key, known);
        out.push({
          path: formatPath([...issue.path, key]),
          message: `unknown key${hint ? ` (did you mean '${hint}'?)` : ''}; allowed here: ${known.join(', ')}`,
        });
      }
    } else out.push({ path: formatPath(issue.path), message: issue.message });
  }
  return out;
}

/** Bitwidth used for ordering and eq. 7: identity (FP) quantizers count as 32 bit. */
function effectiveBits(q: { id: string; bits: number }, registries: ConfigRegistries): number {
  const p = registries.quantizers.has(q.id) ? registries.quantizers.get(q.id) : undefined;
  return p?.identity ? 32 : q.bits;
}

function checkTensorQuant(
  tq: TensorQuantConfig,
  target: QuantTarget,
  path: (string | number)[],
  cfg: DqaConfig,
  registries: ConfigRegistries,
  add: (path: (string | number)[], message: string) => void,
): void {
  const relaxReg = registries.relaxations ?? defaultRelaxations;
  const K = tq.quantizers.length;
  if (K === 0) {
    add(
      [...path, 'quantizers'],
      'K = 0: at least one quantizer is needed (Q_1 is the one the model ends with)',
    );
  }
  let relax: Relaxation<never> | undefined;
  if (!relaxReg.has(tq.relaxation)) {
    const hint = suggest(tq.relaxation, relaxReg.ids());
    add(
      [...path, 'relaxation'],
      `unknown relaxation '${tq.relaxation}'${hint ? ` (did you mean '${hint}'?)` : ''}; known: ${relaxReg.describeIds()}`,
    );
  } else {
    relax = relaxReg.get(tq.relaxation);
    if (K > 0 && (K < relax.minQuantizers || K > relax.maxQuantizers)) {
      const range =
        relax.minQuantizers === relax.maxQuantizers
          ? `exactly ${relax.minQuantizers}`
          : `${relax.minQuantizers} to ${relax.maxQuantizers}`;
      add(
        [...path, 'quantizers'],
        `relaxation '${relax.id}' takes ${range} quantizers, got K = ${K}`,
      );
    }
  }
  tq.quantizers.forEach((q, i) => {
    const qp = [...path, 'quantizers', i];
    if (!registries.quantizers.has(q.id)) {
      const hint = suggest(q.id, registries.quantizers.ids());
      add(
        [...qp, 'id'],
        `unknown quantizer '${q.id}'${hint ? ` (did you mean '${hint}'?)` : ''}; known: ${registries.quantizers.describeIds()}`,
      );
      return;
    }
    const plugin = registries.quantizers.get(q.id);
    if (!acceptsBits(plugin.bits, q.bits)) {
      add(
        [...qp, 'bits'],
        `quantizer '${q.id}' accepts ${describeBits(plugin.bits)}, got ${q.bits}`,
      );
    }
    if (!plugin.targets.includes(target)) {
      add(
        [...qp, 'id'],
        `quantizer '${q.id}' cannot quantize ${target} (it quantizes ${plugin.targets.join(' and ')})`,
      );
    }
    if (!plugin.granularities.includes(q.granularity)) {
      add(
        [...qp, 'granularity'],
        `quantizer '${q.id}' supports granularity ${plugin.granularities.map((g) => `'${g}'`).join(' or ')}, got '${q.granularity}'`,
      );
    }
  });
  if (K >= 2) {
    const bits = tq.quantizers.map((q) => effectiveBits(q, registries));
    for (let i = 1; i < K; i++) {
      if (!(bits[i]! > bits[i - 1]!)) {
        add(
          [...path, 'quantizers', i, 'bits'],
          `quantizers must be sorted by strictly increasing bitwidth (n_1 < … < n_K, Q_1 the final low-bit one); got ${bits.join(', ')}`,
        );
        break;
      }
    }
  }
  if (tq.relaxation === 'qnet') {
    tq.quantizers.forEach((q, i) => {
      if (registries.quantizers.has(q.id) && registries.quantizers.get(q.id).identity) {
        add(
          [...path, 'quantizers', i, 'id'],
          `relaxation 'qnet' steps between a quantizer's levels; '${q.id}' is the identity and has none`,
        );
      }
    });
  }
  if (tq.relaxation === 'dqa' && K > 0) {
    const dqa = cfg.relaxation.dqa;
    if (dqa.g && dqa.g.length !== K) {
      add(
        ['relaxation', 'dqa', 'g'],
        `has ${dqa.g.length} entries but ${formatPath(path)} uses K = ${K} quantizers`,
      );
    }
    if (Array.isArray(dqa.init) && dqa.init.length !== K) {
      add(
        ['relaxation', 'dqa', 'init'],
        `has ${dqa.init.length} entries but ${formatPath(path)} uses K = ${K} quantizers`,
      );
    }
  }
}

/**
 * The full schema for a given set of registries: the structural schema plus the checks that need
 * the registries (known ids, accepted bits, K per relaxation, sorted bitwidths) and the cross-field
 * rules (DQA's T(B) < T0, qnet's T(B) > T0, g strictly increasing, milestones increasing).
 */
export function createConfigSchema(registries: ConfigRegistries) {
  return configSchema.superRefine((cfg, ctx) => {
    const add = (path: (string | number)[], message: string) =>
      ctx.addIssue({ code: 'custom', path, message });
    const t = cfg.relaxation.dqa.temperature;
    if (!(t.tEnd < t.t0)) {
      add(
        ['relaxation', 'dqa', 'temperature', 'tEnd'],
        `T(B) = ${t.tEnd} must be below T0 = ${t.t0}: DQA cools down`,
      );
    }
    const qt = cfg.relaxation.qnet.temperature;
    if (qt.tEnd !== 'auto' && !(qt.tEnd > qt.t0)) {
      add(
        ['relaxation', 'qnet', 'temperature', 'tEnd'],
        `T(B) = ${qt.tEnd} must be above T0 = ${qt.t0}: Quantization Networks sharpen (T rises), or use 'auto'`,
      );
    }
    const g = cfg.relaxation.dqa.g;
    if (g) {
      for (let i = 1; i < g.length; i++) {
        if (!(g[i]! > g[i - 1]!)) {
          add(
            ['relaxation', 'dqa', 'g'],
            `the penalty must be strictly increasing (g_k grows with the bitwidth), got [${g.join(', ')}]`,
          );
          break;
        }
      }
    }
    if (cfg.learningRate.kind === 'step') {
      const m = cfg.learningRate.milestones;
      for (let i = 1; i < m.length; i++) {
        if (!(m[i]! > m[i - 1]!)) {
          add(
            ['learningRate', 'milestones'],
            `milestones must be increasing fractions of training, got [${m.join(', ')}]`,
          );
          break;
        }
      }
    }
    const q = cfg.quantization;
    if (q.weights)
      checkTensorQuant(q.weights, 'weights', ['quantization', 'weights'], cfg, registries, add);
    if (q.activations)
      checkTensorQuant(
        q.activations,
        'activations',
        ['quantization', 'activations'],
        cfg,
        registries,
        add,
      );
    q.overrides.forEach((o, i) => {
      if (o.weights)
        checkTensorQuant(
          o.weights,
          'weights',
          ['quantization', 'overrides', i, 'weights'],
          cfg,
          registries,
          add,
        );
      if (o.activations) {
        checkTensorQuant(
          o.activations,
          'activations',
          ['quantization', 'overrides', i, 'activations'],
          cfg,
          registries,
          add,
        );
      }
    });
  });
}

/**
 * Validates a configuration object and fills in defaults. Throws a `ConfigError` listing every
 * problem with its key path (`quantization.weights.quantizers[1].bits: quantizer 'bwn' accepts
 * bits 1 only, got 2`).
 */
export function parseConfig(
  input: unknown,
  registries: ConfigRegistries,
  source?: string,
): DqaConfig {
  const result = createConfigSchema(registries).safeParse(input);
  if (!result.success) throw new ConfigError(toIssues(result.error, input), source);
  return result.data;
}

/**
 * Parses JSON or YAML text (YAML is a superset of JSON; `format` only changes error messages)
 * and validates it. Syntax errors are `CONFIG_PARSE` errors with line and column.
 */
export function parseConfigText(
  text: string,
  registries: ConfigRegistries,
  options: { format?: 'json' | 'yaml'; source?: string } = {},
): DqaConfig {
  const where = options.source ? `${options.source}: ` : '';
  let data: unknown;
  if (options.format === 'json') {
    try {
      data = JSON.parse(text);
    } catch (e) {
      throw new DqaError('CONFIG_PARSE', `${where}invalid JSON: ${(e as Error).message}`, {
        cause: e,
      });
    }
  } else {
    try {
      data = parseYaml(text);
    } catch (e) {
      if (e instanceof YAMLParseError) {
        const pos = e.linePos?.[0];
        const at = pos ? `line ${pos.line}, column ${pos.col}: ` : '';
        throw new DqaError(
          'CONFIG_PARSE',
          `${where}invalid YAML at ${at}${e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')}`,
          { cause: e },
        );
      }
      throw e;
    }
  }
  return parseConfig(data, registries, options.source);
}
