import type { ModelSpec } from './spec.js';

/** A registered architecture: builds its spec from (untyped) options, e.g. a config's `model.options`. */
export interface Architecture {
  /** Registry name, as in a config's `model.name` (`resnet20`, `cnn-small`, …). */
  readonly id: string;
  readonly description: string;
  /** The option names it accepts (any other is an error). */
  readonly options: readonly string[];
  /** The validated spec; throws a `ModelOptionError` naming a bad or unknown option. */
  spec(options?: Readonly<Record<string, unknown>>): ModelSpec;
}
