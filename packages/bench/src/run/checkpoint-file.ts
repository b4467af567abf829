import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { ArgumentError, type Checkpoint, type SgdState } from '@dqa/core';
import { writeFileDurableSync } from '../io/durable-write.js';
import { RunFileError } from './layout.js';

/**
 * The checkpoint file (`.ckpt`): core's plain-number `Checkpoint` in a compact binary form.
 *
 * ```text
 * offset   size  content
 *      0      8  magic "DQACKPT\n"
 *      8      4  format version, uint32 little-endian (1)
 *     12      4  header length H in bytes, uint32 little-endian
 *     16      H  header: UTF-8 JSON, padded with spaces so the data starts at a multiple of 4
 *   16+H    4·N  data: N float32 little-endian, each variable's values in header order, then each
 *                optimizer slot's tensors in header order (row-major, like Checkpoint's arrays)
 *  end-32     32  SHA-256 of every byte before it
 * ```
 *
 * Header: `{"epoch", "step", "floats": N, "variables": [{"name", "shape"}],
 * "optimizer": {"momentum": [{"name", "shape"}]}, "partial"?: {"lossSum", "batches"}}` (`partial`
 * for a run stopped inside an epoch; JSON keeps its float64 loss sum exactly). The checksum sits at the end, after the data,
 * so it covers the header too and a file cut short has none: truncation and corruption both show.
 *
 * Checkpoint values come from Float32Arrays, so storing them as float32 is exact and a resumed
 * run continues bit for bit; `encodeCheckpoint` refuses a value float32 cannot hold exactly
 * rather than round it silently.
 */
export const checkpointFormatVersion = 1;

const MAGIC = 'DQACKPT\n';
const PREAMBLE_BYTES = 16;
const CHECKSUM_BYTES = 32;

interface TensorEntry {
  name: string;
  shape: number[];
}

interface CheckpointHeader {
  epoch: number;
  step: number;
  floats: number;
  variables: TensorEntry[];
  optimizer: Record<string, TensorEntry[]>;
  /** A stop inside an epoch: that epoch's running loss sum (a float64, exact in JSON) and batches. */
  partial?: { lossSum: number; batches: number };
}

/** What a checkpoint file holds, without its values. */
export interface CheckpointInfo {
  path: string;
  /** Epochs completed. */
  epoch: number;
  /** Global steps completed. */
  step: number;
  /** Number of variables (weights, attention α, batch-norm statistics). */
  variables: number;
  /** Optimizer slots and how many tensors each holds, e.g. `{ momentum: 12 }`. */
  optimizer: Record<string, number>;
  /** float32 values stored. */
  floats: number;
  /** Present when the run stopped inside epoch `epoch` (Ctrl-C): batches of it already trained. */
  partial?: { lossSum: number; batches: number };
  bytes: number;
  formatVersion: number;
}

type TensorMap = Record<string, { shape: number[]; values: number[] }>;

const sizeOf = (shape: readonly number[]): number => shape.reduce((n, d) => n * d, 1);

function entriesOf(
  map: TensorMap,
  where: string,
): [string, { shape: number[]; values: number[] }][] {
  if (typeof map !== 'object' || map === null)
    throw new ArgumentError(`encodeCheckpoint: ${where} must be an object of tensors`);
  const entries = Object.entries(map);
  for (const [name, t] of entries) {
    const shape = t?.shape;
    if (!(Array.isArray(shape) && shape.every((d) => Number.isInteger(d) && d >= 0))) {
      throw new ArgumentError(
        `encodeCheckpoint: ${where} '${name}' has shape ${JSON.stringify(shape)}; expected non-negative integers`,
      );
    }
    if (!Array.isArray(t.values) || t.values.length !== sizeOf(shape)) {
      throw new ArgumentError(
        `encodeCheckpoint: ${where} '${name}' has shape [${shape.join(', ')}] (${sizeOf(shape)} values) but ${Array.isArray(t.values) ? t.values.length : 'no'} values`,
      );
    }
  }
  return entries;
}

/** The bytes of a `.ckpt` file (format above). Throws `ArgumentError` naming a bad variable. */
export function encodeCheckpoint(c: Checkpoint): Uint8Array {
  for (const key of ['epoch', 'step'] as const) {
    if (!(Number.isSafeInteger(c[key]) && c[key] >= 0))
      throw new ArgumentError(
        `encodeCheckpoint: ${key} must be a non-negative integer, got ${c[key]}`,
      );
  }
  const tensors: { where: string; name: string; values: number[] }[] = [];
  const variables = entriesOf(c.variables, 'variable').map(([name, t]) => {
    tensors.push({ where: 'variable', name, values: t.values });
    return { name, shape: [...t.shape] };
  });
  const optimizer: Record<string, TensorEntry[]> = {};
  for (const [slot, map] of Object.entries(c.optimizer as unknown as Record<string, TensorMap>)) {
    optimizer[slot] = entriesOf(map, `optimizer ${slot} of`).map(([name, t]) => {
      tensors.push({ where: `optimizer ${slot} of`, name, values: t.values });
      return { name, shape: [...t.shape] };
    });
  }
  const floats = tensors.reduce((n, t) => n + t.values.length, 0);
  const header: CheckpointHeader = { epoch: c.epoch, step: c.step, floats, variables, optimizer };
  if (c.partial) {
    const { lossSum, batches } = c.partial;
    if (!(Number.isFinite(lossSum) && Number.isSafeInteger(batches) && batches >= 0)) {
      throw new ArgumentError(
        `encodeCheckpoint: partial must hold a finite lossSum and a batch count ≥ 0, got ${JSON.stringify(c.partial)}`,
      );
    }
    header.partial = { lossSum, batches };
  }
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  const pad = (4 - ((PREAMBLE_BYTES + json.length) % 4)) % 4;
  if (pad) json = Buffer.concat([json, Buffer.alloc(pad, 0x20)]);

  const dataStart = PREAMBLE_BYTES + json.length;
  const total = dataStart + 4 * floats + CHECKSUM_BYTES;
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  out.set(Buffer.from(MAGIC, 'latin1'), 0);
  view.setUint32(8, checkpointFormatVersion, true);
  view.setUint32(12, json.length, true);
  out.set(json, PREAMBLE_BYTES);
  let off = dataStart;
  for (const t of tensors) {
    const values = t.values;
    for (let i = 0; i < values.length; i++) {
      const v = values[i]!;
      // NaN has no exact float32 twin to compare with, but stays NaN; everything else must match.
      if (Math.fround(v) !== v && !Number.isNaN(v)) {
        throw new ArgumentError(
          `encodeCheckpoint: ${t.where} '${t.name}' value ${i} is ${v}, which float32 cannot hold exactly; checkpoints store the float32 values the backend computed with`,
        );
      }
      view.setFloat32(off, v, true);
      off += 4;
    }
  }
  out.set(sha256(out.subarray(0, off)), off);
  return out;
}

function sha256(bytes: Uint8Array): Uint8Array {
  return createHash('sha256').update(bytes).digest();
}

const isShape = (s: unknown): s is number[] =>
  Array.isArray(s) && s.every((d) => Number.isInteger(d) && d >= 0);

function checkEntries(list: unknown, where: string, fail: (m: string) => never): TensorEntry[] {
  if (!Array.isArray(list)) fail(`the header's ${where} is not a list`);
  const names = new Set<string>();
  return list.map((e: unknown, i) => {
    const entry = e as Partial<TensorEntry> | null;
    if (!(entry && typeof entry.name === 'string' && isShape(entry.shape)))
      fail(`the header's ${where} entry ${i} needs a name and a shape of non-negative integers`);
    if (names.has(entry.name)) fail(`the header's ${where} lists '${entry.name}' twice`);
    names.add(entry.name);
    return { name: entry.name, shape: entry.shape };
  });
}

/** Validates everything but the values: preamble, sizes, checksum, header structure. */
function parse(bytes: Uint8Array, path: string): { header: CheckpointHeader; dataStart: number } {
  const name = `checkpoint ${path}`;
  const truncated = (m: string): never => {
    throw new RunFileError(path, 'truncated', `${name} is truncated: ${m}`);
  };
  const corrupt = (m: string): never => {
    throw new RunFileError(path, 'corrupt', `${name} is corrupt: ${m}`);
  };
  if (bytes.length < MAGIC.length) {
    if (Buffer.from(bytes).toString('latin1') === MAGIC.slice(0, bytes.length))
      truncated(`${bytes.length} bytes, fewer than its ${PREAMBLE_BYTES}-byte preamble`);
  }
  if (Buffer.from(bytes.subarray(0, MAGIC.length)).toString('latin1') !== MAGIC) {
    throw new RunFileError(
      path,
      'corrupt',
      `${name} is not a DQA-TS checkpoint: it does not start with "DQACKPT"`,
    );
  }
  if (bytes.length < PREAMBLE_BYTES)
    truncated(`${bytes.length} bytes, fewer than its ${PREAMBLE_BYTES}-byte preamble`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint32(8, true);
  if (version !== checkpointFormatVersion) {
    if (version > checkpointFormatVersion && version < 1000) {
      throw new RunFileError(
        path,
        'unsupported-version',
        `${name} has format version ${version}; this DQA-TS reads version ${checkpointFormatVersion} (it was written by a newer DQA-TS)`,
      );
    }
    corrupt(`format version ${version} is not one DQA-TS ever wrote`);
  }
  const headerBytes = view.getUint32(12, true);
  if (PREAMBLE_BYTES + headerBytes + CHECKSUM_BYTES > bytes.length) {
    truncated(
      `its header alone needs ${PREAMBLE_BYTES + headerBytes + CHECKSUM_BYTES} bytes, the file has ${bytes.length}`,
    );
  }
  const dataStart = PREAMBLE_BYTES + headerBytes;
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(bytes.subarray(PREAMBLE_BYTES, dataStart)).toString('utf8'));
  } catch {
    corrupt('its header is not valid JSON');
  }
  const h = raw as Partial<CheckpointHeader> | null;
  if (!(h && typeof h === 'object' && Number.isSafeInteger(h.floats) && h.floats! >= 0))
    corrupt('its header has no float count');
  const expected = dataStart + 4 * h!.floats! + CHECKSUM_BYTES;
  if (bytes.length < expected)
    truncated(`${bytes.length} of the ${expected} bytes its header announces`);
  if (bytes.length > expected)
    corrupt(`${bytes.length} bytes where its header announces ${expected}`);
  const stored = bytes.subarray(expected - CHECKSUM_BYTES);
  const actual = sha256(bytes.subarray(0, expected - CHECKSUM_BYTES));
  if (!Buffer.from(stored).equals(Buffer.from(actual)))
    corrupt('its SHA-256 checksum does not match its contents');

  const fail = (m: string): never => corrupt(m);
  for (const key of ['epoch', 'step'] as const) {
    const v = h![key];
    if (!(Number.isSafeInteger(v) && (v as number) >= 0))
      corrupt(`the header's ${key} is ${JSON.stringify(v)}, not a non-negative integer`);
  }
  const variables = checkEntries(h!.variables, 'variables', fail);
  const optimizerRaw = h!.optimizer;
  if (!(optimizerRaw && typeof optimizerRaw === 'object' && !Array.isArray(optimizerRaw)))
    corrupt("the header's optimizer is not an object of slots");
  const optimizer: Record<string, TensorEntry[]> = {};
  for (const [slot, list] of Object.entries(optimizerRaw!))
    optimizer[slot] = checkEntries(list, `optimizer slot '${slot}'`, fail);
  const counted = [...variables, ...Object.values(optimizer).flat()].reduce(
    (n, e) => n + sizeOf(e.shape),
    0,
  );
  if (counted !== h!.floats)
    corrupt(`its shapes hold ${counted} values but its header counts ${h!.floats}`);
  const header: CheckpointHeader = {
    epoch: h!.epoch!,
    step: h!.step!,
    floats: h!.floats!,
    variables,
    optimizer,
  };
  if (h!.partial !== undefined) {
    const p = h!.partial as Partial<CheckpointHeader['partial']> | null;
    if (!(p && typeof p.lossSum === 'number' && Number.isSafeInteger(p.batches) && p.batches! >= 0))
      corrupt("the header's partial needs a number lossSum and a batch count");
    header.partial = { lossSum: p!.lossSum!, batches: p!.batches! };
  }
  return { header, dataStart };
}

/**
 * The `Checkpoint` in `.ckpt` bytes. Throws `RunFileError` naming `path` (any label for the
 * bytes' origin) and the problem: truncated, corrupt (checksum, sizes, header) or a newer format.
 */
export function decodeCheckpoint(bytes: Uint8Array, path = '(bytes)'): Checkpoint {
  const { header, dataStart } = parse(bytes, path);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let off = dataStart;
  const take = (entries: TensorEntry[]): TensorMap => {
    const map: TensorMap = {};
    for (const e of entries) {
      const n = sizeOf(e.shape);
      const values = new Array<number>(n);
      for (let i = 0; i < n; i++, off += 4) values[i] = view.getFloat32(off, true);
      map[e.name] = { shape: e.shape, values };
    }
    return map;
  };
  const variables = take(header.variables);
  const optimizer: Record<string, TensorMap> = {};
  for (const [slot, entries] of Object.entries(header.optimizer)) optimizer[slot] = take(entries);
  return {
    epoch: header.epoch,
    step: header.step,
    variables,
    optimizer: optimizer as unknown as SgdState,
    ...(header.partial ? { partial: { ...header.partial } } : {}),
  };
}

/** A `RunFileError` for a checkpoint that cannot be read at all. */
function unreadable(path: string, e: unknown): RunFileError {
  if ((e as NodeJS.ErrnoException).code === 'ENOENT')
    return new RunFileError(path, 'missing', `checkpoint ${path} does not exist`, { cause: e });
  return new RunFileError(
    path,
    'unreadable',
    `cannot read checkpoint ${path}: ${(e as Error).message}`,
    { cause: e },
  );
}

/**
 * Writes `checkpoint` to `path` atomically and durably (temporary file, fsync, rename): the
 * file is the old one or the whole new one, never half of either.
 */
export function writeCheckpointSync(path: string, checkpoint: Checkpoint): void {
  writeFileDurableSync(path, encodeCheckpoint(checkpoint));
}

/** `writeCheckpointSync`, as a promise (the write itself is synchronous: it must finish). */
export async function writeCheckpoint(path: string, checkpoint: Checkpoint): Promise<void> {
  writeCheckpointSync(path, checkpoint);
}

/** Reads and validates a `.ckpt` file; `RunFileError` names the file and the problem. */
export async function readCheckpoint(path: string): Promise<Checkpoint> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw unreadable(path, e);
  }
  return decodeCheckpoint(bytes, path);
}

/** Validates a `.ckpt` file completely (checksum included) and describes it, values left out. */
export function checkpointInfo(path: string): CheckpointInfo {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw unreadable(path, e);
  }
  const { header } = parse(bytes, path);
  return {
    path,
    epoch: header.epoch,
    step: header.step,
    variables: header.variables.length,
    optimizer: Object.fromEntries(Object.entries(header.optimizer).map(([k, v]) => [k, v.length])),
    floats: header.floats,
    ...(header.partial ? { partial: { ...header.partial } } : {}),
    bytes: bytes.length,
    formatVersion: checkpointFormatVersion,
  };
}
