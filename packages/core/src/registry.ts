import { DqaError } from './errors.js';

/**
 * A registry of named plugins, open to third parties: registering an id twice throws an error
 * naming the id, and asking for an unknown id lists the known ones (tfjs' kernel registry rule).
 */
export class Registry<T extends { readonly id: string }> {
  private readonly items = new Map<string, T>();

  /** @param kind what the registry holds, for messages ("quantizer", "relaxation", …) */
  constructor(
    readonly kind: string,
    private readonly validate: (item: T) => void = () => {},
  ) {}

  /** Adds `item`; throws `DUPLICATE_PLUGIN` if its id is taken. Returns the registry. */
  register(item: T): this {
    this.validate(item);
    const existing = this.items.get(item.id);
    if (existing) {
      throw new DqaError(
        'DUPLICATE_PLUGIN',
        `${this.kind} '${item.id}' is already registered; unregister it first or pick another id`,
      );
    }
    this.items.set(item.id, item);
    return this;
  }

  /** Removes `id` (returns whether it was present). */
  unregister(id: string): boolean {
    return this.items.delete(id);
  }

  has(id: string): boolean {
    return this.items.has(id);
  }

  /** The item registered as `id`; throws `UNKNOWN_PLUGIN` listing the known ids. */
  get(id: string): T {
    const item = this.items.get(id);
    if (!item) {
      throw new DqaError(
        'UNKNOWN_PLUGIN',
        `unknown ${this.kind} '${id}'; known: ${this.describeIds()}`,
      );
    }
    return item;
  }

  ids(): string[] {
    return [...this.items.keys()];
  }

  list(): T[] {
    return [...this.items.values()];
  }

  /** `'a', 'b', 'c'` or `(none registered)`. */
  describeIds(): string {
    const ids = this.ids();
    return ids.length ? ids.map((i) => `'${i}'`).join(', ') : '(none registered)';
  }
}
