// `dqa bench surface`: the paper's Fig. 4, loss surfaces along random filter-normalised directions.

export { filterNormalizedDirection, type HostTensor } from './directions.js';
export {
  computeLossSurface,
  defaultSurfaceVariants,
  type LossSurfaceOptions,
  type LossSurfaceResult,
  type SurfaceVariant,
  type SurfaceVariantResult,
  surfaceAxis,
} from './loss-surface.js';
export { type IsolinePoint, isolines, surfaceSpec } from './plot.js';
export { surfaceMarkdown, writeSurface } from './report.js';
export { type Roughness, surfaceRoughness } from './roughness.js';
