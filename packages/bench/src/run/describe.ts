import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type DqaConfig, resolveLayerQuantization, type TensorQuantConfig } from '@dqa/core';
import type { RunData } from './read-run.js';

/** Bitwidths and quantizer ids of a relaxed quantizer's Q_1 … Q_K (Q_1 first). */
export interface LayerQuantizerInfo {
  bits: number[];
  quantizers: string[];
}

/**
 * A relaxed quantizer's Q_k from the configuration, for names such as `conv2/weights` (layer,
 * then the tensor: `weights` or `activations`). A layer that reports attention is quantized, so
 * the first/last-layer rule does not apply to it and only the defaults and overrides matter.
 */
export function quantizersFromConfig(
  config: DqaConfig,
  name: string,
): LayerQuantizerInfo | undefined {
  const cut = name.lastIndexOf('/');
  if (cut <= 0) return undefined;
  const tensor = name.slice(cut + 1);
  if (tensor !== 'weights' && tensor !== 'activations') return undefined;
  const q = resolveLayerQuantization(config, {
    name: name.slice(0, cut),
    isFirst: false,
    isLast: false,
  })[tensor];
  if (!q) return undefined;
  return { bits: q.quantizers.map((r) => r.bits), quantizers: q.quantizers.map((r) => r.id) };
}

/** Legend labels for Q_1 … Q_K: "2 bit", "4 bit", "FP"; the plugin id is added where bits repeat. */
export function quantizerLabels(info: LayerQuantizerInfo | undefined, k: number): string[] {
  if (!info || info.bits.length !== k) return Array.from({ length: k }, (_, i) => `Q${i + 1}`);
  return info.bits.map((bits, i) => {
    const id = info.quantizers[i] ?? '';
    if (id === 'fp') return 'FP';
    const label = `${bits} bit`;
    const repeated = info.bits.filter((b) => b === bits).length > 1;
    return repeated ? `${label} ${id}` : label;
  });
}

/** "DQA over 2/4/8-bit min-max" for one tensor kind's quantization. */
export function describeTensorQuant(q: TensorQuantConfig | null): string {
  if (!q) return 'float';
  const relax = relaxationLabel(q.relaxation);
  const ids = [...new Set(q.quantizers.map((r) => r.id))];
  const bits = q.quantizers.map((r) => (r.id === 'fp' ? 'FP' : String(r.bits))).join('/');
  const perChannel = q.quantizers.some((r) => r.granularity === 'channel') ? ', per channel' : '';
  if (q.quantizers.length === 1) {
    const r = q.quantizers[0]!;
    return `${relax} ${r.id === 'fp' ? 'FP' : `${r.bits}-bit`} ${r.id}${perChannel}`;
  }
  return `${relax} over ${bits}-bit ${ids.join('+')}${perChannel}`;
}

export function relaxationLabel(id: string): string {
  return id === 'dqa'
    ? 'DQA'
    : id === 'ste'
      ? 'STE'
      : id === 'binary-relax'
        ? 'BR'
        : id === 'qnet'
          ? 'QN'
          : id;
}

/** The method in a few words: weights, then activations when quantized. */
export function describeMethod(config: DqaConfig): string {
  const { weights, activations } = config.quantization;
  if (!weights && !activations) return 'float (no quantization)';
  const parts = [`weights ${describeTensorQuant(weights)}`];
  if (activations) parts.push(`activations ${describeTensorQuant(activations)}`);
  return parts.join(', ');
}

/** Whether any layer of the run uses DQA (and so has a temperature). */
export function usesDqa(config: DqaConfig): boolean {
  const q = config.quantization;
  const all = [q.weights, q.activations, ...q.overrides.flatMap((o) => [o.weights, o.activations])];
  return all.some((t) => t?.relaxation === 'dqa');
}

let cachedVersion: string | undefined;

/** The DQA-TS version: @dqa/bench's, read from its package.json (from src/ and from dist/). */
export function dqaVersion(): string {
  if (cachedVersion) return cachedVersion;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === '@dqa/bench' && pkg.version) {
        cachedVersion = pkg.version;
        return pkg.version;
      }
    } catch {
      // no package.json at this level
    }
    dir = dirname(dir);
  }
  cachedVersion = 'unknown';
  return cachedVersion;
}

/** A command line as one string, quoting arguments a shell would split. */
export function formatCommand(command: string | readonly string[]): string {
  if (typeof command === 'string') return command;
  return command
    .map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", `'\\''`)}'`))
    .join(' ');
}

/** Whether any layer mixes more than one quantizer (so attention means something). */
export function hasMixtures(run: RunData): boolean {
  return run.attention.some((r) => r.layers.some((l) => l.a.length > 1));
}
