// @dqa/quantizers: the quantizers of the DQA paper as plugins, one file each.
import { createQuantizerRegistry, type QuantizerPlugin } from '@dqa/core';
import { bwn } from './bwn.js';
import { fp } from './fp.js';
import { minmax } from './minmax.js';
import { pact } from './pact.js';
import { sawb } from './sawb.js';
import { twn } from './twn.js';

export { bwn } from './bwn.js';
export { fp } from './fp.js';
export * from './groups.js';
export { minmax } from './minmax.js';
export { PACT_DEFAULT_ALPHA, PACT_MIN_ALPHA, pact } from './pact.js';
export { sawb } from './sawb.js';
export { sawbAlpha, sawbMse } from './sawb-alpha.js';
export { TWN_DELTA_FACTOR, twn } from './twn.js';
export * from './uniform-levels.js';

/** The built-in plugins, in the paper's order. */
export const builtinQuantizers: readonly QuantizerPlugin[] = [fp, minmax, sawb, bwn, twn, pact];

/**
 * The quantizer registry, filled with the built-ins. Third parties add theirs with
 * `quantizers.register(myPlugin)`; `quantizers.get(id)` throws listing the known ids.
 */
export const quantizers = createQuantizerRegistry(builtinQuantizers);
