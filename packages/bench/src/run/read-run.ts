import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError, configSchema, type DqaConfig, formatPath } from '@dqa/core';
import { type CheckpointInfo, checkpointInfo } from './checkpoint-file.js';
import {
  type AttentionRecord,
  type EndRecord,
  type EpochRecord,
  type LayerAttentionRecord,
  type QuantizationRecord,
  RunFileError,
  type RunInfo,
  runFiles,
  type StepRecord,
} from './layout.js';

/** A run folder, parsed and checked. */
export interface RunData {
  dir: string;
  config: DqaConfig;
  run: RunInfo;
  /** Step lines, in file order. */
  steps: StepRecord[];
  epochs: EpochRecord[];
  /** Absent while the run is going on, or when it was killed before its end. */
  end?: EndRecord;
  attention: AttentionRecord[];
  quantization: QuantizationRecord[];
  /** checkpoints/last.ckpt, fully validated (checksum included); absent when there is none. */
  checkpoint?: CheckpointInfo;
  /** Things that are not errors but a reader should know: a torn last line, a bad checkpoint. */
  warnings: string[];
}

/** Where a JSON line came from, for messages. */
interface Where {
  path: string;
  line: number;
}

function invalid(at: Where, message: string): never {
  throw new RunFileError(at.path, 'invalid', `${at.path}:${at.line}: ${message}`, {
    line: at.line,
  });
}

/** A finite number, or null (how JSON writes NaN and ±Infinity), read back as NaN. */
function num(v: Record<string, unknown>, key: string, at: Where, what: string): number {
  const x = v[key];
  if (typeof x === 'number') return x;
  if (x === null) return Number.NaN;
  return invalid(at, `${what} needs a number "${key}", got ${JSON.stringify(x) ?? 'nothing'}`);
}

function int(v: Record<string, unknown>, key: string, at: Where, what: string): number {
  const x = v[key];
  if (Number.isInteger(x) && (x as number) >= 0) return x as number;
  return invalid(
    at,
    `${what} needs a non-negative integer "${key}", got ${JSON.stringify(x) ?? 'nothing'}`,
  );
}

function numbers(x: unknown, at: Where, what: string): number[] {
  if (!Array.isArray(x)) return invalid(at, `${what} must be a list of numbers`);
  return x.map((e, i) => {
    if (typeof e === 'number') return e;
    if (e === null) return Number.NaN;
    return invalid(at, `${what}[${i}] is ${JSON.stringify(e)}, not a number`);
  });
}

function optionalTemperature(v: Record<string, unknown>, at: Where, what: string) {
  return v.temperature === undefined ? {} : { temperature: num(v, 'temperature', at, what) };
}

async function readText(dir: string, file: string, required: boolean): Promise<string | null> {
  const path = join(dir, file);
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      if (!required) return null;
      throw new RunFileError(
        path,
        'missing',
        `run folder ${dir} has no ${file} (${path}); is it a dqa train run folder?`,
        { cause: e },
      );
    }
    throw new RunFileError(path, 'unreadable', `cannot read ${path}: ${(e as Error).message}`, {
      cause: e,
    });
  }
}

/**
 * The objects of a JSON-lines file, each passed to `parse` with its 1-based line number. A last
 * line without its newline that does not parse is a write the process did not finish: it is left
 * out with a warning. Every other bad line is a `RunFileError` naming the file and line.
 */
function jsonLines<T>(
  text: string,
  path: string,
  warnings: string[],
  parse: (v: Record<string, unknown>, at: Where) => T,
): T[] {
  const lines = text.split('\n');
  const last = lines.length - 1;
  const out: T[] = [];
  lines.forEach((line, i) => {
    if (!line.trim()) return;
    const at = { path, line: i + 1 };
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch (e) {
      if (i === last) {
        warnings.push(`${path}:${i + 1}: an unfinished last line was left out`);
        return;
      }
      invalid(at, `not valid JSON (${(e as Error).message})`);
    }
    if (!(v && typeof v === 'object' && !Array.isArray(v))) invalid(at, 'expected a JSON object');
    out.push(parse(v as Record<string, unknown>, at));
  });
  return out;
}

function parseAttentionLayer(x: unknown, at: Where, i: number): LayerAttentionRecord {
  const what = `layers[${i}]`;
  if (!(x && typeof x === 'object')) invalid(at, `${what} must be an object`);
  const l = x as Record<string, unknown>;
  if (typeof l.name !== 'string') invalid(at, `${what} needs a string "name"`);
  if (typeof l.relaxation !== 'string') invalid(at, `${what} needs a string "relaxation"`);
  const a = numbers(l.a, at, `${what}.a`);
  const out: LayerAttentionRecord = { name: l.name, relaxation: l.relaxation, a };
  if (l.bits !== undefined) {
    out.bits = numbers(l.bits, at, `${what}.bits`);
    if (out.bits.length !== a.length)
      invalid(at, `${what} has ${a.length} weights a_k but ${out.bits.length} bits`);
  }
  if (l.quantizers !== undefined) {
    if (!(Array.isArray(l.quantizers) && l.quantizers.every((q) => typeof q === 'string')))
      invalid(at, `${what}.quantizers must be a list of quantizer ids`);
    out.quantizers = l.quantizers as string[];
  }
  return out;
}

/**
 * Reads a run folder written by `createRunRecorder`: config.json and metrics.jsonl must be there;
 * attention.jsonl and quantization.jsonl may be missing (nothing recorded). Errors are
 * `RunFileError`s naming the file (and line) and what was expected; an invalid configuration is
 * core's `ConfigError`, naming config.json and every key path.
 */
export async function readRun(dir: string): Promise<RunData> {
  try {
    if (!(await stat(dir)).isDirectory())
      throw new RunFileError(dir, 'invalid', `run folder ${dir} is a file, not a folder`);
  } catch (e) {
    if (e instanceof RunFileError) throw e;
    throw new RunFileError(dir, 'missing', `run folder ${dir} does not exist`, { cause: e });
  }
  const warnings: string[] = [];

  const configPath = join(dir, runFiles.config);
  const configText = (await readText(dir, runFiles.config, true))!;
  let raw: unknown;
  try {
    raw = JSON.parse(configText);
  } catch (e) {
    throw new RunFileError(
      configPath,
      'invalid',
      `${configPath}: not valid JSON (${(e as Error).message})`,
      { cause: e },
    );
  }
  if (!(raw && typeof raw === 'object' && !Array.isArray(raw)))
    throw new RunFileError(configPath, 'invalid', `${configPath}: expected a JSON object`);
  const { run: runRaw, ...configRaw } = raw as Record<string, unknown>;
  const parsed = configSchema.safeParse(configRaw);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((i) => ({ path: formatPath(i.path), message: i.message })),
      configPath,
    );
  }
  const runInfo = runRaw as RunInfo | undefined;
  if (!(runInfo && typeof runInfo === 'object' && typeof runInfo.created === 'string')) {
    throw new RunFileError(
      configPath,
      'invalid',
      `${configPath}: needs a "run" block with its "created" time (written by createRunRecorder)`,
    );
  }

  const metricsPath = join(dir, runFiles.metrics);
  const steps: StepRecord[] = [];
  const epochs: EpochRecord[] = [];
  let end: EndRecord | undefined;
  jsonLines((await readText(dir, runFiles.metrics, true))!, metricsPath, warnings, (v, at) => {
    switch (v.type) {
      case 'step': {
        const w = 'a "step" line';
        steps.push({
          type: 'step',
          epoch: int(v, 'epoch', at, w),
          step: int(v, 'step', at, w),
          loss: num(v, 'loss', at, w),
          regularizer: num(v, 'regularizer', at, w),
          lr: num(v, 'lr', at, w),
          ...optionalTemperature(v, at, w),
        });
        return;
      }
      case 'epoch': {
        const w = 'an "epoch" line';
        epochs.push({
          type: 'epoch',
          epoch: int(v, 'epoch', at, w),
          trainLoss: num(v, 'trainLoss', at, w),
          testLoss: num(v, 'testLoss', at, w),
          testAccuracy: num(v, 'testAccuracy', at, w),
          seconds: num(v, 'seconds', at, w),
        });
        return;
      }
      case 'end': {
        const w = 'an "end" line';
        if (typeof v.stopped !== 'boolean') invalid(at, `${w} needs a boolean "stopped"`);
        if (end) invalid(at, 'a second "end" line');
        // null: stopped early, so there was no final evaluation.
        end = {
          type: 'end',
          relaxedAccuracy: v.relaxedAccuracy === null ? null : num(v, 'relaxedAccuracy', at, w),
          hardAccuracy: v.hardAccuracy === null ? null : num(v, 'hardAccuracy', at, w),
          stopped: v.stopped as boolean,
        };
        return;
      }
      default:
        invalid(
          at,
          `unknown line type ${JSON.stringify(v.type)}; expected "step", "epoch" or "end"`,
        );
    }
  });
  for (let i = 1; i < steps.length; i++) {
    if (steps[i]!.step <= steps[i - 1]!.step) {
      warnings.push(
        `${metricsPath}: step ${steps[i]!.step} follows step ${steps[i - 1]!.step}; was a run resumed without truncating its files?`,
      );
      break;
    }
  }

  const attentionPath = join(dir, runFiles.attention);
  const attentionText = await readText(dir, runFiles.attention, false);
  const attention = jsonLines(attentionText ?? '', attentionPath, warnings, (v, at) => {
    const w = 'an attention line';
    if (!Array.isArray(v.layers)) invalid(at, `${w} needs a list "layers"`);
    return {
      epoch: int(v, 'epoch', at, w),
      step: int(v, 'step', at, w),
      ...optionalTemperature(v, at, w),
      layers: (v.layers as unknown[]).map((l, i) => parseAttentionLayer(l, at, i)),
    } satisfies AttentionRecord;
  });

  const quantizationPath = join(dir, runFiles.quantization);
  const quantizationText = await readText(dir, runFiles.quantization, false);
  const quantization = jsonLines(quantizationText ?? '', quantizationPath, warnings, (v, at) => {
    const w = 'a quantization line';
    if (!Array.isArray(v.layers)) invalid(at, `${w} needs a list "layers"`);
    return {
      epoch: int(v, 'epoch', at, w),
      step: int(v, 'step', at, w),
      layers: (v.layers as unknown[]).map((x, i) => {
        const l = (x ?? {}) as Record<string, unknown>;
        if (typeof l.layer !== 'string') invalid(at, `layers[${i}] needs a string "layer"`);
        const wv = numbers(l.w, at, `layers[${i}].w`);
        const q = numbers(l.q, at, `layers[${i}].q`);
        if (wv.length !== q.length)
          invalid(at, `layers[${i}] has ${wv.length} samples w but ${q.length} values q`);
        return { layer: l.layer as string, w: wv, q };
      }),
    } satisfies QuantizationRecord;
  });

  let checkpoint: CheckpointInfo | undefined;
  try {
    checkpoint = checkpointInfo(join(dir, runFiles.lastCheckpoint));
  } catch (e) {
    if (!(e instanceof RunFileError && e.problem === 'missing'))
      warnings.push((e as Error).message);
  }

  return {
    dir,
    config: parsed.data,
    run: runInfo,
    steps,
    epochs,
    ...(end ? { end } : {}),
    attention,
    quantization,
    ...(checkpoint ? { checkpoint } : {}),
    warnings,
  };
}
