import { Registry } from '@dqa/core';
import type { Architecture } from './architecture.js';
import { cnnSmallArchitecture } from './cnn-small.js';
import { lenet5Architecture } from './lenet5.js';
import { mlpArchitecture } from './mlp.js';
import { mobilenetv2Architecture } from './mobilenetv2.js';
import { resnet18Architecture } from './resnet18.js';
import { resnet20Architecture } from './resnet20.js';
import type { ModelSpec } from './spec.js';

/**
 * The architecture registry: `mlp`, `lenet5`, `cnn-small`, `resnet20`, `resnet18`, `mobilenetv2`.
 * Open to more (`architectures.register({ id, description, options, spec })`); a duplicate id is
 * an error, and an unknown one lists the known ids.
 */
export const architectures = new Registry<Architecture>('architecture');
architectures
  .register(mlpArchitecture)
  .register(lenet5Architecture)
  .register(cnnSmallArchitecture)
  .register(resnet20Architecture)
  .register(resnet18Architecture)
  .register(mobilenetv2Architecture);

/** The architecture registered as `name`; throws `UNKNOWN_PLUGIN` listing the known names. */
export function getArchitecture(name: string): Architecture {
  return architectures.get(name);
}

/** The registered architecture names. */
export function architectureNames(): string[] {
  return architectures.ids();
}

/** The spec of a registered architecture with `options` (e.g. a config's `model.options`). */
export function architectureSpec(
  name: string,
  options?: Readonly<Record<string, unknown>>,
): ModelSpec {
  return getArchitecture(name).spec(options);
}
