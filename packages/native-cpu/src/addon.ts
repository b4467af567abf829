import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { QuantAddon } from './fused.js';

/**
 * The compiled Node-API addon (`build/Release/dqa_native_cpu.node`, built by
 * `scripts/build-addon.mjs`) and how it is found. Every kernel writes its whole result into the
 * `out` array it is given; shapes are plain arrays, convolution geometries Int32Arrays (see
 * `native/dnnl_ops.cc` for their order). A convolution input's version (0: none) lets the addon
 * reuse its reordered copy while the array holds the same values.
 */
export interface NativeAddon extends QuantAddon {
  readonly dnnlVersion: string;
  readonly dnnlCpuRuntime: string;
  setThreads(n: number): void;
  getThreads(): number;
  cpuCount(): number;

  binary(
    op: number,
    a: Float32Array,
    aShape: readonly number[],
    b: Float32Array,
    bShape: readonly number[],
    outShape: readonly number[],
    out: Float32Array,
  ): void;
  unary(op: number, x: Float32Array, size: number, out: Float32Array): void;
  clip(x: Float32Array, size: number, lo: number, hi: number, out: Float32Array): void;
  where(
    cond: Float32Array,
    condShape: readonly number[],
    a: Float32Array,
    aShape: readonly number[],
    b: Float32Array,
    bShape: readonly number[],
    outShape: readonly number[],
    out: Float32Array,
  ): void;
  fill(out: Float32Array, size: number, value: number): void;
  reduce(
    op: number,
    x: Float32Array,
    shape: readonly number[],
    axes: readonly number[],
    out: Float32Array,
  ): void;
  transpose(
    x: Float32Array,
    shape: readonly number[],
    perm: readonly number[],
    out: Float32Array,
  ): void;
  matMul(
    a: Float32Array,
    aRows: number,
    aCols: number,
    b: Float32Array,
    bRows: number,
    bCols: number,
    transposeA: boolean,
    transposeB: boolean,
    out: Float32Array,
  ): void;

  convForward(
    depthwise: boolean,
    x: Float32Array,
    xVersion: number,
    filter: Float32Array,
    filterVersion: number,
    geometry: Int32Array,
    out: Float32Array,
    /** Added in the same pass; with `activation` (0 none, 1 ReLU) applied after it. */
    bias?: Float32Array,
    activation?: number,
  ): void;
  /** dz = dy masked by the activation's derivative at y (1: ReLU, y > 0), dBias = Σ_rows dz. */
  biasActivationBackward(
    dy: Float32Array,
    y: Float32Array,
    rows: number,
    channels: number,
    activation: number,
    dz: Float32Array,
    dBias: Float32Array,
  ): void;
  convBackwardData(
    depthwise: boolean,
    dy: Float32Array,
    dyVersion: number,
    filter: Float32Array,
    filterVersion: number,
    geometry: Int32Array,
    out: Float32Array,
  ): void;
  convBackwardWeights(
    depthwise: boolean,
    x: Float32Array,
    xVersion: number,
    dy: Float32Array,
    dyVersion: number,
    geometry: Int32Array,
    out: Float32Array,
  ): void;
  poolWorkspaceBytes(geometry: Int32Array): number;
  poolForward(
    max: boolean,
    x: Float32Array,
    geometry: Int32Array,
    out: Float32Array,
    workspace?: Uint8Array,
  ): void;
  poolBackward(
    max: boolean,
    dy: Float32Array,
    x: Float32Array | undefined,
    geometry: Int32Array,
    out: Float32Array,
    workspace?: Uint8Array,
  ): void;

  reluBackward(dy: Float32Array, x: Float32Array, size: number, out: Float32Array): void;
  softmaxCrossEntropy(
    logits: Float32Array,
    labels: Float32Array,
    rows: number,
    cols: number,
    out: Float32Array,
  ): void;
  batchNorm(
    x: Float32Array,
    rows: number,
    channels: number,
    mean: Float32Array,
    variance: Float32Array,
    offset: Float32Array | undefined,
    scale: Float32Array | undefined,
    epsilon: number,
    out: Float32Array,
  ): void;
  batchNormTraining(
    x: Float32Array,
    rows: number,
    channels: number,
    offset: Float32Array | undefined,
    scale: Float32Array | undefined,
    epsilon: number,
    y: Float32Array,
    mean: Float32Array,
    variance: Float32Array,
    residual: Float32Array | undefined,
    activation: number,
  ): void;
  batchNormTrainingBackward(
    dy: Float32Array,
    x: Float32Array,
    rows: number,
    channels: number,
    mean: Float32Array,
    variance: Float32Array,
    scale: Float32Array | undefined,
    epsilon: number,
    dx: Float32Array,
    dOffset: Float32Array,
    dScale: Float32Array,
    y: Float32Array | undefined,
    activation: number,
    dResidual: Float32Array | undefined,
  ): void;
  batchNormBackward(
    dy: Float32Array,
    x: Float32Array,
    rows: number,
    channels: number,
    mean: Float32Array,
    variance: Float32Array,
    scale: Float32Array | undefined,
    epsilon: number,
    dx: Float32Array,
    dMean: Float32Array,
    dVariance: Float32Array,
    dOffset: Float32Array,
    dScale: Float32Array,
  ): void;
  softmaxCrossEntropyBackward(
    dy: Float32Array,
    logits: Float32Array,
    labels: Float32Array,
    rows: number,
    cols: number,
    dLogits: Float32Array,
    dLabels: Float32Array | undefined,
  ): void;
}

/**
 * Where the addon is expected: `build/Release/` of the package (relative to this file in `src/`
 * or `dist/`), or the file DQA_NATIVE_ADDON names (another build, e.g. with sanitizers).
 */
export const addonPath =
  process.env.DQA_NATIVE_ADDON ||
  fileURLToPath(new URL('../build/Release/dqa_native_cpu.node', import.meta.url));

/** The commands that install oneDNN and a compiler and rebuild the addon (Debian/Ubuntu). */
export const installHint =
  'install oneDNN and a compiler (Debian/Ubuntu: `sudo apt-get install libdnnl-dev g++ make python3`), ' +
  'then rebuild the addon: `pnpm --filter @dqa/native-cpu build` (or `npm rebuild @dqa/native-cpu`)';

export type AddonLoad =
  | { addon: NativeAddon; reason?: undefined }
  | { addon: null; reason: string };

let loaded: AddonLoad | null = null;

/** Loads the addon once; never throws (the reason says what went wrong). */
export function loadAddon(): AddonLoad {
  if (loaded) return loaded;
  if (!existsSync(addonPath)) {
    loaded = {
      addon: null,
      reason: `the native addon is not built (no ${addonPath}); its build was skipped or failed when the package was built`,
    };
    return loaded;
  }
  try {
    const require = createRequire(import.meta.url);
    loaded = { addon: require(addonPath) as NativeAddon };
  } catch (e) {
    const message = e instanceof Error ? e.message.split('\n')[0] : String(e);
    loaded = {
      addon: null,
      reason: `the native addon ${addonPath} does not load: ${message}`,
    };
  }
  return loaded;
}
