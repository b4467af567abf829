import { mkdir, mkdtemp, readdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ArgumentError, type Checkpoint, Random } from '@dqa/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  checkpointFormatVersion,
  checkpointInfo,
  decodeCheckpoint,
  encodeCheckpoint,
  OutputFileError,
  RunFileError,
  readCheckpoint,
  writeCheckpoint,
} from '../src/index.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dqa-run-checkpoint-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Values as the Trainer makes them: `Array.from` of a Float32Array, awkward ones included. */
function checkpoint(): Checkpoint {
  const rng = new Random(11);
  const awkward = new Float32Array([
    -0,
    0,
    Number.NaN,
    Number.POSITIVE_INFINITY,
    Number.NEGATIVE_INFINITY,
    1.401298464324817e-45, // smallest subnormal
    3.4028234663852886e38, // largest float32
    0.1, // stored as 0.100000001490116…
    -1 / 3,
  ]);
  return {
    epoch: 3,
    step: 1173,
    variables: {
      'conv1/kernel': { shape: [3, 3, 1, 4], values: Array.from(rng.normalArray(36)) },
      'conv1/weights/dqa_alpha': { shape: [3], values: Array.from(new Float32Array([3, 2.5, 1])) },
      'bn1/moving_mean': { shape: [9], values: Array.from(awkward) },
      'fc/scalar': { shape: [], values: [Math.fround(0.7)] },
      'fc/empty': { shape: [0, 5], values: [] },
    },
    optimizer: {
      momentum: {
        'conv1/kernel': { shape: [3, 3, 1, 4], values: Array.from(rng.normalArray(36, 0, 1e-3)) },
        'conv1/weights/dqa_alpha': {
          shape: [3],
          values: Array.from(new Float32Array([0, -0, 1e-7])),
        },
      },
    },
  };
}

/** Every float32 bit pattern of a checkpoint's values, in a fixed order. */
function bits(c: Checkpoint): number[] {
  const all = [...Object.values(c.variables), ...Object.values(c.optimizer.momentum)].flatMap(
    (t) => t.values,
  );
  return Array.from(new Uint32Array(Float32Array.from(all).buffer));
}

describe('checkpoint files', () => {
  it('round-trip exactly: names, shapes, epoch, step, optimizer slots and every float32 bit', async () => {
    const c = checkpoint();
    const path = join(dir, 'exact.ckpt');
    await writeCheckpoint(path, c);
    const back = await readCheckpoint(path);
    expect(back.epoch).toBe(3);
    expect(back.step).toBe(1173);
    expect(Object.keys(back.variables)).toEqual(Object.keys(c.variables));
    expect(Object.keys(back.optimizer)).toEqual(['momentum']);
    for (const [name, t] of Object.entries(c.variables)) {
      expect(back.variables[name]!.shape).toEqual(t.shape);
      // Object.is tells -0 from 0 and matches NaN: the numbers are the very same.
      for (const [i, v] of back.variables[name]!.values.entries())
        expect(Object.is(v, t.values[i])).toBe(true);
    }
    expect(bits(back)).toEqual(bits(c));
    expect(Object.is(back.variables['bn1/moving_mean']!.values[0], -0)).toBe(true);
    expect(back.optimizer.momentum).toEqual(c.optimizer.momentum);
  });

  it('keeps the running loss of a run stopped inside an epoch, exactly', async () => {
    const c = {
      ...checkpoint(),
      epoch: 3,
      step: 1180,
      partial: { lossSum: 12.345678901234567, batches: 7 },
    };
    const path = join(dir, 'partial.ckpt');
    await writeCheckpoint(path, c);
    const back = await readCheckpoint(path);
    expect(back.partial).toEqual({ lossSum: 12.345678901234567, batches: 7 });
    expect(bits(back)).toEqual(bits(c));
    expect(checkpointInfo(path).partial).toEqual(c.partial);
    expect((await readCheckpoint(join(dir, 'exact.ckpt'))).partial).toBeUndefined();
    expect(() => encodeCheckpoint({ ...c, partial: { lossSum: Number.NaN, batches: 7 } })).toThrow(
      /partial must hold a finite lossSum/,
    );
  });

  it('is compact: a small JSON header, 4 bytes a value, a 32-byte checksum', () => {
    const bytes = encodeCheckpoint(checkpoint());
    const floats = 36 + 3 + 9 + 1 + 0 + 36 + 3;
    expect(Buffer.from(bytes.subarray(0, 8)).toString('latin1')).toBe('DQACKPT\n');
    const view = new DataView(bytes.buffer, bytes.byteOffset);
    expect(view.getUint32(8, true)).toBe(checkpointFormatVersion);
    const headerBytes = view.getUint32(12, true);
    expect((16 + headerBytes) % 4).toBe(0);
    expect(bytes.length).toBe(16 + headerBytes + 4 * floats + 32);
    const header = JSON.parse(Buffer.from(bytes.subarray(16, 16 + headerBytes)).toString());
    expect(header).toMatchObject({ epoch: 3, step: 1173, floats });
    expect(header.optimizer.momentum.map((e: { name: string }) => e.name)).toEqual([
      'conv1/kernel',
      'conv1/weights/dqa_alpha',
    ]);
  });

  it('refuses values float32 cannot hold, and values that do not fit their shape', () => {
    const c = checkpoint();
    c.variables['conv1/kernel']!.values[5] = 0.1;
    expect(() => encodeCheckpoint(c)).toThrow(ArgumentError);
    expect(() => encodeCheckpoint(c)).toThrow(/variable 'conv1\/kernel' value 5 is 0\.1/);
    const d = checkpoint();
    d.variables['fc/scalar']!.values.push(1);
    expect(() => encodeCheckpoint(d)).toThrow(/'fc\/scalar' has shape \[\] \(1 values\) but 2/);
  });

  it('names the file and says "truncated" wherever the file is cut', async () => {
    const bytes = encodeCheckpoint(checkpoint());
    const headerEnd = 16 + new DataView(bytes.buffer).getUint32(12, true);
    for (const length of [0, 5, 12, 20, headerEnd + 10, bytes.length - 1]) {
      const path = join(dir, `cut-${length}.ckpt`);
      await writeFile(path, bytes.subarray(0, length));
      const error = await readCheckpoint(path).catch((e: unknown) => e);
      expect(error, `cut at ${length}`).toBeInstanceOf(RunFileError);
      expect((error as RunFileError).problem, `cut at ${length}`).toBe('truncated');
      expect((error as Error).message).toContain(`checkpoint ${path} is truncated`);
    }
  });

  it('detects corruption anywhere, header included, by the checksum', async () => {
    const bytes = encodeCheckpoint(checkpoint());
    const headerEnd = 16 + new DataView(bytes.buffer).getUint32(12, true);
    const text = Buffer.from(bytes.subarray(16, headerEnd)).toString('latin1');
    // "step":1173 → "step":1174: still valid JSON, a different checkpoint.
    const stepDigit = 16 + text.indexOf('1173') + 3;
    for (const [where, offset] of [
      ['data', headerEnd + 17],
      ['header', stepDigit],
      ['checksum', bytes.length - 3],
    ] as const) {
      const flipped = Uint8Array.from(bytes);
      flipped[offset] = where === 'header' ? 0x34 : flipped[offset]! ^ 0x01;
      const path = join(dir, `flip-${where}.ckpt`);
      await writeFile(path, flipped);
      await expect(readCheckpoint(path), where).rejects.toThrow(
        `checkpoint ${path} is corrupt: its SHA-256 checksum does not match its contents`,
      );
    }
    const longer = join(dir, 'longer.ckpt');
    await writeFile(longer, Buffer.concat([bytes, Buffer.from([0])]));
    await expect(readCheckpoint(longer)).rejects.toThrow(/is corrupt: \d+ bytes where its header/);
  });

  it('names what else is wrong: not a checkpoint, a newer format, no file', async () => {
    const other = join(dir, 'notes.ckpt');
    await writeFile(other, 'these are not the weights you are looking for');
    await expect(readCheckpoint(other)).rejects.toThrow(
      `checkpoint ${other} is not a DQA-TS checkpoint`,
    );
    const newer = Uint8Array.from(encodeCheckpoint(checkpoint()));
    new DataView(newer.buffer).setUint32(8, checkpointFormatVersion + 1, true);
    const newerPath = join(dir, 'newer.ckpt');
    await writeFile(newerPath, newer);
    const error = await readCheckpoint(newerPath).catch((e: unknown) => e);
    expect((error as RunFileError).problem).toBe('unsupported-version');
    expect((error as Error).message).toContain(`has format version ${checkpointFormatVersion + 1}`);
    const missing = join(dir, 'nowhere', 'last.ckpt');
    const gone = await readCheckpoint(missing).catch((e: unknown) => e);
    expect((gone as RunFileError).problem).toBe('missing');
    expect((gone as Error).message).toBe(`checkpoint ${missing} does not exist`);
    expect(() => decodeCheckpoint(new Uint8Array(3), 'in memory')).toThrow(
      'checkpoint in memory is not a DQA-TS checkpoint',
    );
  });

  it('writes atomically: a replaced file is whole and no temporary file is left, even on failure', async () => {
    const sub = join(dir, 'atomic');
    const path = join(sub, 'last.ckpt');
    const c = checkpoint();
    await writeCheckpoint(path, c);
    c.epoch = 4;
    await writeCheckpoint(path, c);
    expect((await readCheckpoint(path)).epoch).toBe(4);
    expect(await readdir(sub)).toEqual(['last.ckpt']);
    // A folder in the way: the rename fails, the error names the path, the temporary file goes.
    await mkdir(join(sub, 'blocked.ckpt'));
    const error = await writeCheckpoint(join(sub, 'blocked.ckpt'), c).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OutputFileError);
    expect((error as Error).message).toContain(`cannot write ${join(sub, 'blocked.ckpt')}`);
    expect((await readdir(sub)).sort()).toEqual(['blocked.ckpt', 'last.ckpt']);
  });

  it('checkpointInfo validates the whole file and describes it without the values', async () => {
    const path = join(dir, 'info.ckpt');
    await writeCheckpoint(path, checkpoint());
    expect(checkpointInfo(path)).toEqual({
      path,
      epoch: 3,
      step: 1173,
      variables: 5,
      optimizer: { momentum: 2 },
      floats: 88,
      bytes: (await readFile(path)).length,
      formatVersion: checkpointFormatVersion,
    });
    await truncate(path, 100);
    expect(() => checkpointInfo(path)).toThrow(`checkpoint ${path} is truncated`);
  });
});
