import { readFile } from 'node:fs/promises';
import { DqaError } from '@dqa/core';
import {
  buildExportedModel,
  checkOnnxBytes,
  createOnnxRunner,
  decodePacked,
  isPacked,
  modelLogits,
  readModelBytes,
} from '@dqa/onnx';
import { type Command, Option } from 'commander';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { integerOption } from './options.js';
import { createCliBackend } from './train/backends.js';

interface PredictIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

interface PredictCliOptions {
  top: number;
  backend: string;
  precision: 'exact' | 'default';
  json?: boolean;
}

/** The model's input: `[height, width, channels]` bytes. */
type InputShape = readonly [number, number, number];

/** An image file that cannot be used, named with what is wrong. */
class ImageFileError extends DqaError {
  constructor(message: string, cause?: unknown) {
    super('DATA_FILE', message, cause === undefined ? {} : { cause });
  }
}

/** RGBA pixels of a PNG or JPEG file (told apart by their first bytes, not the extension). */
async function decodeImage(
  path: string,
): Promise<{ width: number; height: number; rgba: Uint8Array }> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ImageFileError(
      code === 'ENOENT'
        ? `image ${path} does not exist`
        : `cannot read image ${path}: ${(e as Error).message}`,
      e,
    );
  }
  const png = bytes
    .subarray(0, 8)
    .equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
  const jpg = bytes[0] === 0xff && bytes[1] === 0xd8;
  try {
    if (png) {
      const img = PNG.sync.read(bytes);
      return { width: img.width, height: img.height, rgba: new Uint8Array(img.data) };
    }
    if (jpg) {
      const img = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true });
      return { width: img.width, height: img.height, rgba: img.data };
    }
  } catch (e) {
    throw new ImageFileError(`image ${path} is damaged: ${(e as Error).message}`, e);
  }
  throw new ImageFileError(`image ${path} is not a PNG or JPEG file`);
}

/**
 * An image as the model's input bytes: the same size (no resizing: the model saw its data set's
 * images as they are), RGB to grey by the Rec. 601 luma weights for one-channel models, grey
 * repeated for three, alpha ignored.
 */
async function loadImage(path: string, shape: InputShape): Promise<Uint8Array> {
  const [h, w, c] = shape;
  const img = await decodeImage(path);
  if (img.width !== w || img.height !== h)
    throw new ImageFileError(
      `image ${path} is ${img.width}×${img.height} pixels; the model takes ${w}×${h} (resize it first)`,
    );
  const out = new Uint8Array(h * w * c);
  for (let p = 0; p < h * w; p++) {
    const [r, g, b] = [img.rgba[4 * p]!, img.rgba[4 * p + 1]!, img.rgba[4 * p + 2]!];
    if (c === 1) out[p] = Math.round(0.299 * r + 0.587 * g + 0.114 * b);
    else if (c === 3) out.set([r, g, b], 3 * p);
    else
      throw new ImageFileError(
        `the model takes ${c}-channel images; dqa predict reads grey and RGB`,
      );
  }
  return out;
}

interface Prediction {
  image: string;
  top: { class: number; name: string; probability: number }[];
}

function rank(
  logits: Float32Array,
  i: number,
  classes: number,
  names: readonly string[] | undefined,
  k: number,
) {
  const row = Array.from(logits.subarray(i * classes, (i + 1) * classes));
  const m = Math.max(...row);
  const e = row.map((v) => Math.exp(v - m));
  const sum = e.reduce((a, v) => a + v, 0);
  return row
    .map((_, c) => ({ class: c, name: names?.[c] ?? `class ${c}`, probability: e[c]! / sum }))
    .sort((a, b) => b.probability - a.probability || a.class - b.class)
    .slice(0, k);
}

async function predict(
  modelPath: string,
  imagePaths: string[],
  opts: PredictCliOptions,
  io: PredictIo,
) {
  const bytes = await readModelBytes(modelPath, 'model');
  let logits: Float32Array;
  let classes: number;
  let names: readonly string[] | undefined;
  let format: string;
  if (isPacked(bytes)) {
    const m = decodePacked(bytes, modelPath);
    const shape = m.input.shape;
    const images = await Promise.all(imagePaths.map((p) => loadImage(p, shape)));
    const { backend, note } = await createCliBackend(opts.backend, 1);
    const model = buildExportedModel(backend, m);
    try {
      logits = modelLogits(backend, model, m.input, concat(images), images.length);
    } finally {
      model.dispose();
      (backend as { close?: () => void }).close?.();
    }
    classes = m.spec.classes;
    names = m.classNames;
    format = `packed model on ${note}`;
  } else {
    const file = checkOnnxBytes(bytes, modelPath);
    const meta = file.metadata;
    const shape = meta.input.shape as unknown as InputShape;
    const images = await Promise.all(imagePaths.map((p) => loadImage(p, shape)));
    const runner = await createOnnxRunner(bytes, meta.input, {
      precision: opts.precision,
      path: modelPath,
    });
    try {
      logits = await runner.run(concat(images), images.length);
    } finally {
      await runner.release();
    }
    classes = meta.output.classes;
    names = meta.classNames;
    format = `ONNX opset ${file.opset} on onnxruntime-node`;
  }
  const predictions: Prediction[] = imagePaths.map((image, i) => ({
    image,
    top: rank(logits, i, classes, names, Math.min(opts.top, classes)),
  }));
  if (opts.json) {
    io.stdout(`${JSON.stringify(predictions, null, 2)}\n`);
    return;
  }
  io.stderr(`dqa predict: ${modelPath} (${format})\n`);
  for (const p of predictions) {
    const [best, ...rest] = p.top;
    const others = rest.map((t) => `${t.name} ${(100 * t.probability).toFixed(1)}%`).join(', ');
    io.stdout(
      `${p.image}: ${best!.name} (${(100 * best!.probability).toFixed(1)}%)${others ? `; then ${others}` : ''}\n`,
    );
  }
}

function concat(images: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(images.reduce((n, a) => n + a.length, 0));
  let off = 0;
  for (const a of images) {
    out.set(a, off);
    off += a.length;
  }
  return out;
}

/** `dqa predict MODEL IMAGE...`. */
export function addPredictCommand(program: Command, io: PredictIo): void {
  program
    .command('predict')
    .description('classify images with an exported model (model.onnx or model.dqa from dqa export)')
    .argument('<model>', 'an ONNX or packed model written by dqa export')
    .argument('<images...>', 'PNG or JPEG images of the size the model takes')
    .option('--top <k>', 'classes to show per image', integerOption(1), 3)
    .option('--json', 'print the predictions as JSON')
    .addOption(
      new Option(
        '--precision <p>',
        'ONNX: exact float math, or onnxruntime’s default fused kernels',
      )
        .choices(['exact', 'default'])
        .default('exact'),
    )
    .option('--backend <id>', 'compute backend for packed models', 'reference')
    .addHelpText(
      'after',
      '\nExamples:\n  dqa predict runs/<run>/export/model.onnx shirt.png boot.png\n  dqa predict runs/<run>/export/model.dqa shirt.png --top 1\n',
    )
    .action(async (model: string, images: string[], opts: PredictCliOptions) => {
      await predict(model, images, opts, io);
    });
}
