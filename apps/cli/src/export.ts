import { basename, join, relative, resolve } from 'node:path';
import { writeFileAtomic } from '@dqa/bench';
import { type Backend, type Checkpoint, DqaError, type Variable } from '@dqa/core';
import { buildModel } from '@dqa/models';
import { loadDataset } from '@dqa/models/node';
import {
  AGREEMENT_TOLERANCE,
  agrees,
  buildExportedModel,
  compareLogits,
  createOnnxRunner,
  type ExportedModel,
  encodePacked,
  exportModel,
  type LogitAgreement,
  modelLogits,
  type OnnxExport,
  type OnnxOpset,
  type OnnxPrecision,
  onnxOpsets,
  readOnnxFile,
  readPacked,
  toOnnx,
} from '@dqa/onnx';
import { quantizers } from '@dqa/quantizers';
import { type Command, Option } from 'commander';
import { openRunDir } from './run-dir.js';
import { createCliBackend } from './train/backends.js';

interface ExportIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

type Format = 'onnx' | 'packed' | 'all';

interface ExportCliOptions {
  format: Format;
  opset: string;
  out?: string;
  backend?: string;
  verify: boolean;
}

/** The files `dqa export` writes into its output folder. */
export const exportFiles = {
  onnx: 'model.onnx',
  packed: 'model.dqa',
  report: 'export.json',
} as const;

const pct = (v: number) => `${(100 * v).toFixed(2)}%`;
const int = (n: number) => n.toLocaleString('en-US');
const sci = (v: number) => (v === 0 ? '0' : v.toExponential(1));

function agreementLine(a: LogitAgreement): string {
  return `top-1 agreement ${pct(a.top1Agreement)} (${a.sameTop1}/${a.examples}), max |logit diff| ${sci(a.maxAbsDiff)} = ${sci(a.relativeDiff)} · max|logit| (${a.maxAbsLogit.toFixed(2)})`;
}

/** "uint2 ×3" style summary of how the kernels were stored. */
function storageLabel(onnx: OnnxExport): string {
  const counts = new Map<string, number>();
  for (const k of onnx.kernels) counts.set(k.type, (counts.get(k.type) ?? 0) + 1);
  return [...counts].map(([t, n]) => (n > 1 ? `${t} ×${n}` : t)).join(', ');
}

async function exportRun(dirArg: string, opts: ExportCliOptions, io: ExportIo): Promise<void> {
  const { dir, run, config, last, checkpoint } = await openRunDir(dirArg, 'export');
  const opset = Number(opts.opset) as OnnxOpset;
  const { backend } = await createCliBackend(opts.backend ?? config.training.backend, 1);
  const dataset = await loadDataset(config.data.name, {
    ...(config.data.root !== undefined ? { root: config.data.root } : {}),
    log: (m) => io.stderr(`${m}\n`),
  });
  const model = buildModel(backend, config, {
    quantizers,
    inputShape: dataset.inputShape,
    classes: dataset.classes,
  });
  try {
    restore(backend, model.variables.concat(model.state), checkpoint, last);
    const input = { shape: dataset.inputShape, mean: dataset.mean, std: dataset.std };
    const count = Math.min(config.data.limitTest ?? dataset.test.count, dataset.test.count);
    const per = dataset.inputShape.reduce((a, d) => a * d, 1);
    const images = dataset.test.images.subarray(0, count * per);
    const labels = dataset.test.labels.subarray(0, count);
    const stepsPerEpoch = run.run.stepsPerEpoch ?? 1;
    const step = {
      step: checkpoint.step,
      totalSteps: run.run.totalSteps ?? stepsPerEpoch * config.training.epochs,
      stepsPerEpoch,
    };
    // Our own evaluation of the final low-bit model (what `dqa eval` reports as its accuracy).
    const reference = modelLogits(backend, model, input, images, count, {
      batchSize: config.data.batchSize,
      step,
    });
    const classes = dataset.classes;
    let correct = 0;
    for (let i = 0; i < count; i++) {
      let best = 0;
      for (let k = 1; k < classes; k++)
        if (reference[i * classes + k]! > reference[i * classes + best]!) best = k;
      if (best === labels[i]) correct++;
    }
    const accuracy = correct / count;
    const exported = await exportModel(backend, model, {
      input,
      ...(dataset.classNames ? { classNames: dataset.classNames } : {}),
      source: {
        run: basename(dir),
        model: config.model.name,
        data: config.data.name,
        checkpointStep: checkpoint.step,
        testImages: count,
        testAccuracy: accuracy,
      },
    });
    await writeAndVerify({
      dir,
      opts,
      io,
      opset,
      backend,
      exported,
      images,
      count,
      reference,
      accuracy,
      config: { model: config.model.name, data: config.data.name },
    });
  } finally {
    model.dispose();
    (backend as { close?: () => void }).close?.();
  }
}

function restore(
  b: Backend,
  variables: readonly Variable[],
  checkpoint: Checkpoint,
  path: string,
): void {
  for (const v of variables) {
    const saved = checkpoint.variables[v.name];
    if (!saved) {
      throw new DqaError(
        'RUN_FILE',
        `${path} has no variable '${v.name}': the checkpoint does not belong to this model`,
      );
    }
    b.tidy(() => v.assign(b.tensor(saved.values, saved.shape)));
  }
}

async function writeAndVerify(r: {
  dir: string;
  opts: ExportCliOptions;
  io: ExportIo;
  opset: OnnxOpset;
  backend: Backend;
  exported: ExportedModel;
  images: Uint8Array;
  count: number;
  reference: Float32Array;
  accuracy: number;
  config: { model: string; data: string };
}): Promise<void> {
  const { dir, opts, io, opset, backend, exported, images, count, reference } = r;
  const out = resolve(opts.out ?? join(dir, 'export'));
  const classes = exported.spec.classes;
  const float = toOnnx(exported, { opset, weights: 'float' });
  const onnx = toOnnx(exported, { opset });
  const packed = encodePacked(exported);
  const writeOnnx = opts.format !== 'packed';
  const writePacked = opts.format !== 'onnx';
  const written: string[] = [];
  const onnxPath = join(out, exportFiles.onnx);
  const packedPath = join(out, exportFiles.packed);
  if (writeOnnx) {
    await writeFileAtomic(onnxPath, onnx.bytes);
    written.push(onnxPath);
  }
  if (writePacked) {
    await writeFileAtomic(packedPath, packed);
    written.push(packedPath);
  }

  const report: Record<string, unknown> = {
    run: dir,
    model: r.config.model,
    data: r.config.data,
    testImages: count,
    accuracy: r.accuracy,
    opset,
    irVersion: onnxOpsets[opset],
    sizes: { float32Onnx: float.bytes.length, onnx: onnx.bytes.length, packed: packed.length },
    kernels: onnx.kernels,
  };
  const lines: string[] = [];
  const rel = (p: string) => relative(process.cwd(), p) || p;
  lines.push(
    `dqa export: ${rel(dir)} (${r.config.model} on ${r.config.data}): ${exported.layers.some((l) => l.weightQuantizer || l.activation) ? 'the final low-bit model' : 'the float32 model (nothing quantized)'}, ${pct(r.accuracy)} on ${int(count)} test images`,
    '',
    '| file | bytes | vs float32 |',
    '| --- | ---: | ---: |',
    `| float32 ONNX (the same model, float weights) | ${int(float.bytes.length)} | 1.00× |`,
    `| ONNX, opset ${opset} (${storageLabel(onnx)} weights) | ${int(onnx.bytes.length)} | ${(float.bytes.length / onnx.bytes.length).toFixed(2)}× smaller |`,
    `| packed (.dqa) | ${int(packed.length)} | ${(float.bytes.length / packed.length).toFixed(2)}× smaller |`,
    '',
    'Kernels:',
    ...onnx.kernels.map(
      (k) =>
        `  ${k.layer.padEnd(12)} ${k.quantizer ? `${k.quantizer} ${k.bits}-bit` : 'float'} → ${k.encoding === 'float' ? 'float32' : `${k.type} ${k.encoding}`}, ${int(k.elements)} weights in ${int(k.bytes)} bytes`,
    ),
  );

  let failed: string | null = null;
  if (opts.verify && writeOnnx) {
    // Read back from disk: what a user would load.
    const file = await readOnnxFile(onnxPath);
    const checks: Partial<Record<OnnxPrecision, LogitAgreement>> = {};
    for (const precision of ['exact', 'default'] as const) {
      const runner = await createOnnxRunner(file.bytes, exported.input, {
        precision,
        path: onnxPath,
      });
      try {
        checks[precision] = compareLogits(reference, await runner.run(images, count), classes);
      } finally {
        await runner.release();
      }
    }
    const exact = checks.exact!;
    const ok = agrees(exact);
    lines.push(
      '',
      `onnxruntime-node on the ${int(count)} test images, against our own evaluation:`,
      `  exact (qdq_matmulnbits_accuracy_level 0): ${agreementLine(exact)} ${ok ? '✓' : '✗'}`,
      `  default optimisation level:               ${agreementLine(checks.default!)}`,
    );
    report.onnxruntime = { exact, default: checks.default, tolerance: AGREEMENT_TOLERANCE };
    if (!ok)
      failed = `the ONNX model disagrees with our evaluation (${agreementLine(exact)}; needed 100% and ≤ ${AGREEMENT_TOLERANCE} · max|logit|)`;
  }
  if (opts.verify && writePacked) {
    const back = await readPacked(packedPath);
    const rebuilt = buildExportedModel(backend, back, { scope: 'packed' });
    try {
      const logits = modelLogits(backend, rebuilt, back.input, images, count);
      const a = compareLogits(reference, logits, classes);
      const identical = a.sameTop1 === a.examples && a.maxAbsDiff === 0;
      lines.push(
        '',
        `packed, read back and run on ${backend.name}: ${a.sameTop1}/${a.examples} identical predictions, max |logit diff| ${sci(a.maxAbsDiff)} ${identical ? '✓' : '✗'}`,
      );
      report.packed = a;
      if (!identical && !failed)
        failed = `the packed model read back predicts differently (${agreementLine(a)})`;
    } finally {
      rebuilt.dispose();
    }
  }
  const reportPath = join(out, exportFiles.report);
  await writeFileAtomic(reportPath, `${JSON.stringify(report, null, 2)}\n`);
  written.push(reportPath);
  lines.push('', 'Wrote:', ...written.map((p) => `  ${rel(p)}`), '');
  io.stdout(lines.join('\n'));
  if (failed) throw new DqaError('MODEL_FILE', `dqa export: ${failed}`);
}

/** `dqa export RUN_DIR`. */
export function addExportCommand(program: Command, io: ExportIo): void {
  program
    .command('export')
    .description(
      "export a run's final low-bit model to ONNX (integer weights, checked with onnxruntime-node) and/or the packed format, and print the file sizes",
    )
    .argument('<run-dir>', 'a folder written by dqa train')
    .addOption(
      new Option('--format <f>', 'what to write: onnx, packed, or all')
        .choices(['onnx', 'packed', 'all'])
        .default('onnx'),
    )
    .addOption(
      new Option(
        '--opset <n>',
        'ONNX opset: 25 (int2/uint2 for 1–2-bit weights), 21 (int4 at most), 13 (int8, older runtimes)',
      )
        .choices(Object.keys(onnxOpsets))
        .default('25'),
    )
    .option('-o, --out <dir>', 'output folder (default <run-dir>/export)')
    .option('--backend <id>', "compute backend for our own evaluation (default: the run's)")
    .option('--no-verify', 'skip running the exported files against our own evaluation')
    .addHelpText(
      'after',
      `\nWrites model.onnx and/or model.dqa and export.json. The ONNX check runs the whole test set in\nonnxruntime-node and needs 100% top-1 agreement and max |logit diff| ≤ ${AGREEMENT_TOLERANCE} · max|logit|;\nthe packed file is read back and must predict identically.\n\nExamples:\n  dqa export runs/<run>                  # model.onnx, checked\n  dqa export runs/<run> --format all     # and model.dqa\n  dqa predict runs/<run>/export/model.onnx shirt.png\n`,
    )
    .action(async (dir: string, opts: ExportCliOptions) => {
      await exportRun(dir, opts, io);
    });
}
