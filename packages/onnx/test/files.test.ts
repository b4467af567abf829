import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { normalizationTable } from '@dqa/models';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildExportedModel,
  checkOnnxBytes,
  compareLogits,
  createOnnxRunner,
  decodePacked,
  encodePacked,
  exportModel,
  ModelFileError,
  type ModelFileProblem,
  modelLogits,
  readOnnxFile,
  readPacked,
  tensorValues,
  toOnnx,
  UnsupportedExportError,
} from '../src/index.js';
import { decodeModel, encodeModel, type OnnxModel } from '../src/proto.js';
import { allOpsSpec, flattenSpec, inputOf, type TinyModel, tinyModel } from './helpers.js';

let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dqa-onnx-files-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The error `fn` throws: a ModelFileError naming `path`, with one of `problems`. */
function modelFileError(fn: () => unknown, path: string, problems: ModelFileProblem[]) {
  let error: unknown;
  try {
    fn();
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(ModelFileError);
  const e = error as ModelFileError;
  expect(e.code).toBe('MODEL_FILE');
  expect(e.message).toContain(path);
  expect(problems).toContain(e.problem);
  return e;
}

const twoBit = {
  quantizeFirstLayer: true,
  quantizeLastLayer: true,
  weights: { relaxation: 'ste', quantizers: [{ id: 'minmax', bits: 2 }] },
};

describe('ONNX files', () => {
  let t: TinyModel;
  let bytes: Uint8Array;
  beforeAll(async () => {
    t = await tinyModel(allOpsSpec(), twoBit);
    bytes = toOnnx(t.exported).bytes;
  });

  it('carry the input contract, class names and per-kernel storage in their metadata', async () => {
    const path = join(dir, 'model.onnx');
    await writeFile(path, bytes);
    const file = await readOnnxFile(path);
    expect([file.irVersion, file.opset]).toEqual([13, 25]);
    expect(file.metadata.input).toEqual({
      name: 'pixels',
      layout: 'NHWC',
      type: 'uint8',
      shape: [12, 12, 3],
      mean: inputOf(allOpsSpec()).mean,
      std: inputOf(allOpsSpec()).std,
    });
    expect(file.metadata.output).toEqual({ name: 'logits', classes: 5 });
    expect(file.metadata.classNames).toEqual([
      'class 0',
      'class 1',
      'class 2',
      'class 3',
      'class 4',
    ]);
    expect(file.metadata.kernels.map((k) => k.layer)).toEqual([
      'conv1',
      'dw',
      'pw',
      'conv2',
      'conv3',
      'logits',
    ]);
  });

  it('cut short anywhere, are refused with an error naming the file', () => {
    const cuts = [1, 7, 40, 300, bytes.length >> 2, bytes.length >> 1, bytes.length - 200];
    for (const n of cuts)
      modelFileError(() => checkOnnxBytes(bytes.subarray(0, n), 'cut.onnx'), 'cut.onnx', [
        'truncated',
        'invalid',
        'corrupt',
      ]);
    const mid = modelFileError(
      () => checkOnnxBytes(bytes.subarray(0, bytes.length >> 1), 'half.onnx'),
      'half.onnx',
      ['truncated'],
    );
    expect(mid.message).toMatch(
      /^ONNX model half\.onnx is truncated: it does not parse as an ONNX ModelProto/,
    );
    modelFileError(() => checkOnnxBytes(new Uint8Array(0), 'empty.onnx'), 'empty.onnx', [
      'truncated',
    ]);
    // Cut exactly before the last metadata entry (field tag, entry length, key tag, key length).
    const at = Buffer.from(bytes).indexOf('dqa.graph_sha256') - 4;
    const e = modelFileError(
      () => checkOnnxBytes(bytes.subarray(0, at), 'tail.onnx'),
      'tail.onnx',
      ['truncated'],
    );
    expect(e.message).toContain("its metadata end before the graph's SHA-256");
  });

  it('changed in a weight byte, fail their SHA-256', () => {
    // The normalisation table's second entry, as stored: flip one of its bits.
    const lut = normalizationTable(t.exported.input.mean, t.exported.input.std);
    const needle = new Uint8Array(new Float32Array([lut[1]!, lut[2]!]).buffer);
    const at = Buffer.from(bytes).indexOf(Buffer.from(needle));
    expect(at).toBeGreaterThan(0);
    const bad = bytes.slice();
    bad[at + 1]! ^= 0x10;
    const e = modelFileError(() => checkOnnxBytes(bad, 'flipped.onnx'), 'flipped.onnx', [
      'corrupt',
    ]);
    expect(e.message).toContain('does not match the SHA-256');
  });

  it("without DQA-TS' metadata (another tool's model, or one cut before them), are refused", () => {
    const model = decodeModel(bytes) as OnnxModel;
    const foreign = encodeModel({ ...model, metadataProps: [] });
    const e = modelFileError(() => checkOnnxBytes(foreign, 'other.onnx'), 'other.onnx', [
      'invalid',
    ]);
    expect(e.message).toContain('has no DQA-TS metadata');
    modelFileError(
      () => checkOnnxBytes(new TextEncoder().encode('not a model at all'), 'text.onnx'),
      'text.onnx',
      ['corrupt', 'truncated', 'invalid'],
    );
  });

  it('that do not exist are named', async () => {
    const e = await readOnnxFile(join(dir, 'nope.onnx')).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ModelFileError);
    expect((e as ModelFileError).problem).toBe('missing');
    expect((e as Error).message).toContain('nope.onnx does not exist');
  });

  it('that onnxruntime refuses are a ModelFileError with its reason', async () => {
    const e = await createOnnxRunner(new Uint8Array([8, 1, 18, 0]), t.exported.input, {
      path: 'broken.onnx',
    }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ModelFileError);
    expect((e as Error).message).toMatch(
      /^onnxruntime-node .* cannot load ONNX model broken\.onnx: /,
    );
  });
});

describe('packed files', () => {
  it('read back bit for bit: every level, index and float', async () => {
    const t = await tinyModel(allOpsSpec(), {
      ...twoBit,
      activations: { relaxation: 'ste', quantizers: [{ id: 'pact', bits: 3 }] },
    });
    const back = decodePacked(encodePacked(t.exported), 'x.dqa');
    expect(back.spec).toEqual(t.exported.spec);
    expect(back.input).toEqual(t.exported.input);
    expect(back.classNames).toEqual(t.exported.classNames);
    for (const [i, layer] of t.exported.layers.entries()) {
      const other = back.layers[i]!;
      expect(other.name).toBe(layer.name);
      expect(other.activation).toEqual(layer.activation);
      expect(other.weightQuantizer).toEqual(layer.weightQuantizer);
      for (const [role, tensor] of Object.entries(layer.tensors)) {
        const u = other.tensors[role as keyof typeof layer.tensors]!;
        expect(u.kind).toBe(tensor.kind);
        expect(
          Buffer.from(tensorValues(u).buffer).equals(Buffer.from(tensorValues(tensor).buffer)),
        ).toBe(true);
      }
    }
  });

  it('loaded and run on the backend, predict exactly what the trained model did', async () => {
    for (const quantization of [
      twoBit,
      { ...twoBit, weights: { relaxation: 'ste', quantizers: [{ id: 'bwn', bits: 1 }] } },
      { ...twoBit, activations: { relaxation: 'ste', quantizers: [{ id: 'pact', bits: 4 }] } },
    ]) {
      const t = await tinyModel(allOpsSpec(), quantization);
      const path = join(dir, 'model.dqa');
      await writeFile(path, encodePacked(t.exported));
      const back = await readPacked(path);
      const model = buildExportedModel(t.b, back, { scope: 'packed' });
      const logits = modelLogits(t.b, model, back.input, t.images, t.count);
      const a = compareLogits(t.reference, logits, 5);
      expect([a.sameTop1, a.maxAbsDiff]).toEqual([t.count, 0]);
      model.dispose();
    }
  });

  it('store 1-bit codes eight a byte and 2-bit codes four a byte', async () => {
    const header = (bytes: Uint8Array) =>
      JSON.parse(
        Buffer.from(
          bytes.subarray(16, 16 + new DataView(bytes.buffer).getUint32(12, true)),
        ).toString(),
      ) as {
        layers: {
          name: string;
          tensors: { role: string; bits?: number; bytes: number; shape: number[] }[];
        }[];
      };
    for (const [id, bits] of [
      ['bwn', 1],
      ['minmax', 2],
    ] as const) {
      const t = await tinyModel(flattenSpec(), {
        ...twoBit,
        weights: { relaxation: 'ste', quantizers: [{ id, bits }] },
      });
      const h = header(encodePacked(t.exported));
      for (const l of h.layers) {
        const kernel = l.tensors.find((x) => x.role === 'kernel')!;
        const n = kernel.shape.reduce((a, d) => a * d, 1);
        expect([kernel.bits, kernel.bytes]).toEqual([bits, Math.ceil((n * bits) / 8)]);
      }
    }
  });

  it('cut short, changed, of a newer version or not packed at all, are refused naming the file', async () => {
    const t = await tinyModel(flattenSpec(), twoBit);
    const bytes = encodePacked(t.exported);
    for (const n of [3, 12, 100, bytes.length >> 1, bytes.length - 1])
      modelFileError(() => decodePacked(bytes.subarray(0, n), 'cut.dqa'), 'cut.dqa', ['truncated']);
    const flipped = bytes.slice();
    flipped[bytes.length - 33]! ^= 1; // the last data byte
    expect(
      modelFileError(() => decodePacked(flipped, 'f.dqa'), 'f.dqa', ['corrupt']).message,
    ).toContain('SHA-256 checksum does not match');
    const newer = bytes.slice();
    newer[8] = 2;
    expect(
      modelFileError(() => decodePacked(newer, 'n.dqa'), 'n.dqa', ['unsupported-version']).message,
    ).toContain('format version 2; this DQA-TS reads version 1');
    modelFileError(() => decodePacked(toOnnx(t.exported).bytes, 'm.onnx'), 'm.onnx', ['invalid']);
    const missing = await readPacked(join(dir, 'none.dqa')).catch((x: unknown) => x);
    expect((missing as ModelFileError).problem).toBe('missing');
  });
});

describe('exportModel', () => {
  it('refuses activations that calibrate on every batch, naming the layer', async () => {
    const t = await tinyModel(flattenSpec(), twoBit);
    await expect(
      tinyModel(flattenSpec(), {
        ...twoBit,
        activations: { relaxation: 'ste', quantizers: [{ id: 'minmax', bits: 4 }] },
      }),
    ).rejects.toThrow(UnsupportedExportError);
    await expect(
      exportModel(t.b, t.model, { input: { ...t.exported.input, mean: [0.1, 0.2] } }),
    ).rejects.toThrow(/1 input channels need 1 means and standard deviations, got 2/);
  });
});
