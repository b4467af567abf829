import { describe, expect, it } from 'vitest';
import { conformanceQuantizer } from '../src/conformance/index.js';
import {
  acceptsBits,
  binaryRelaxRelaxation,
  checkBits,
  createQuantizerRegistry,
  DqaError,
  defineQuantizer,
  describeBits,
  dqaRelaxation,
  type QuantizerPlugin,
  qnetRelaxation,
  Registry,
  relaxations,
  steRelaxation,
  UnsupportedBitsError,
  validateQuantizer,
} from '../src/index.js';
import { fakeBwn, fakeFp, fakeMinmax, fakePact } from './fake-plugins.js';
import { thrown } from './helpers.js';

describe('Registry', () => {
  it('registers, looks up, lists and unregisters', () => {
    const r = new Registry<{ id: string; n: number }>('widget');
    expect(r.kind).toBe('widget');
    expect(r.ids()).toEqual([]);
    expect(r.describeIds()).toBe('(none registered)');
    expect(r.register({ id: 'a', n: 1 })).toBe(r);
    r.register({ id: 'b', n: 2 }).register({ id: 'c', n: 3 });
    expect(r.has('b')).toBe(true);
    expect(r.has('z')).toBe(false);
    expect(r.get('b').n).toBe(2);
    expect(r.ids()).toEqual(['a', 'b', 'c']);
    expect(r.list().map((x) => x.n)).toEqual([1, 2, 3]);
    expect(r.describeIds()).toBe("'a', 'b', 'c'");
    expect(r.unregister('b')).toBe(true);
    expect(r.unregister('b')).toBe(false);
    expect(r.ids()).toEqual(['a', 'c']);
  });

  it('a duplicate id throws DUPLICATE_PLUGIN naming the id and keeps the first', () => {
    const r = new Registry<{ id: string; n: number }>('widget');
    r.register({ id: 'dup', n: 1 });
    const e = thrown(() => r.register({ id: 'dup', n: 2 }));
    expect(e.code).toBe('DUPLICATE_PLUGIN');
    expect(e.message).toMatch(/widget 'dup' is already registered/);
    expect(r.get('dup').n).toBe(1);
    // After unregistering, the id is free again.
    r.unregister('dup');
    r.register({ id: 'dup', n: 3 });
    expect(r.get('dup').n).toBe(3);
  });

  it('an unknown id throws UNKNOWN_PLUGIN listing the known ids', () => {
    const r = new Registry<{ id: string }>('widget');
    expect(thrown(() => r.get('x')).message).toBe("unknown widget 'x'; known: (none registered)");
    r.register({ id: 'alpha' }).register({ id: 'beta' });
    const e = thrown(() => r.get('gamma'));
    expect(e.code).toBe('UNKNOWN_PLUGIN');
    expect(e.message).toBe("unknown widget 'gamma'; known: 'alpha', 'beta'");
  });

  it('runs the validator before registering', () => {
    const r = new Registry<{ id: string }>('widget', (w) => {
      if (w.id.startsWith('_')) throw new DqaError('INVALID_PLUGIN', `bad widget ${w.id}`);
    });
    expect(thrown(() => r.register({ id: '_x' })).code).toBe('INVALID_PLUGIN');
    expect(r.has('_x')).toBe(false);
  });
});

describe('createQuantizerRegistry', () => {
  it('holds the given plugins in order', () => {
    const q = createQuantizerRegistry([
      conformanceQuantizer,
      fakeMinmax,
      fakeBwn,
      fakePact,
      fakeFp,
    ]);
    expect(q.kind).toBe('quantizer');
    expect(q.ids()).toEqual(['conformance-uniform', 'minmax', 'bwn', 'pact', 'fp']);
    expect(q.get('fp').identity).toBe(true);
    expect(createQuantizerRegistry().ids()).toEqual([]);
  });

  it('rejects duplicates with DUPLICATE_PLUGIN naming the id', () => {
    const e = thrown(() => createQuantizerRegistry([fakeBwn, { ...fakeMinmax, id: 'bwn' }]));
    expect(e.code).toBe('DUPLICATE_PLUGIN');
    expect(e.message).toMatch(/quantizer 'bwn' is already registered/);
  });

  it('unknown ids list the known ones', () => {
    const q = createQuantizerRegistry([fakeBwn, fakeFp]);
    const e = thrown(() => q.get('sawb'));
    expect(e.code).toBe('UNKNOWN_PLUGIN');
    expect(e.message).toBe("unknown quantizer 'sawb'; known: 'bwn', 'fp'");
  });
});

describe('plugin validation (INVALID_PLUGIN)', () => {
  const good: QuantizerPlugin = conformanceQuantizer;
  const cases: [string, unknown, RegExp][] = [
    [
      'id with capitals and underscore',
      { ...good, id: 'Bad_ID' },
      /'Bad_ID': id must be kebab-case/,
    ],
    ['id with a trailing dash', { ...good, id: 'bad-' }, /kebab-case/],
    ['id starting with a digit', { ...good, id: '2bit' }, /kebab-case/],
    ['non-string id', { ...good, id: 42 }, /kebab-case/],
    ['missing forward', { ...good, forward: undefined }, /missing the function 'forward'/],
    ['missing reference', { ...good, reference: 'nope' }, /missing the function 'reference'/],
    ['missing referenceGrad', { ...good, referenceGrad: undefined }, /'referenceGrad'/],
    ['missing levels', { ...good, levels: undefined }, /'levels'/],
    ['no bits', { ...good, bits: undefined }, /declares no accepted bits/],
    [
      'empty bits.values',
      { ...good, bits: { values: [] } },
      /bits.values must be positive integers/,
    ],
    ['zero in bits.values', { ...good, bits: { values: [0, 2] } }, /positive integers/],
    ['fraction in bits.values', { ...good, bits: { values: [1.5] } }, /positive integers/],
    ['min 0', { ...good, bits: { min: 0, max: 8 } }, /\{ min, max \} with 1 ≤ min ≤ max/],
    ['max < min', { ...good, bits: { min: 8, max: 2 } }, /1 ≤ min ≤ max/],
    ['fractional min', { ...good, bits: { min: 1.5, max: 4 } }, /1 ≤ min ≤ max/],
    ['no targets', { ...good, targets: [] }, /declares no targets/],
    ['missing targets', { ...good, targets: undefined }, /declares no targets/],
    ['no granularities', { ...good, granularities: [] }, /declares no granularities/],
    [
      'a parameter bound that is not a number',
      {
        ...good,
        parameters: [{ name: 'alpha', description: 'clip', init: () => 1, min: Number.NaN }],
      },
      /parameter 'alpha': min must be a finite number, got NaN/,
    ],
  ];

  it.each(cases)('%s', (_name, plugin, message) => {
    const e1 = thrown(() => defineQuantizer(plugin as QuantizerPlugin));
    expect(e1.code).toBe('INVALID_PLUGIN');
    expect(e1.message).toMatch(/^quantizer plugin '/);
    expect(e1.message).toMatch(message);
    // Registration validates too, and leaves nothing behind.
    const r = createQuantizerRegistry();
    const e2 = thrown(() => r.register(plugin as QuantizerPlugin));
    expect(e2.code).toBe('INVALID_PLUGIN');
    expect(r.ids()).toEqual([]);
  });

  it('rejects a non-object', () => {
    expect(thrown(() => validateQuantizer(null as never)).message).toMatch(/is not an object/);
    expect(thrown(() => validateQuantizer('minmax' as never)).code).toBe('INVALID_PLUGIN');
  });

  it('accepts valid kebab-case ids and returns the plugin itself', () => {
    for (const id of ['a', 'minmax', 'my-quantizer', 'q2-x8']) {
      const p = { ...good, id };
      expect(defineQuantizer(p)).toBe(p);
    }
  });
});

describe('bits helpers', () => {
  it('describeBits', () => {
    expect(describeBits({ values: [1] })).toBe('bits 1 only');
    expect(describeBits({ values: [2, 4] })).toBe('bits 2 or 4');
    expect(describeBits({ values: [2, 4, 8] })).toBe('bits 2, 4 or 8');
    expect(describeBits({ min: 1, max: 16 })).toBe('bits 1–16 (integers)');
  });

  it('acceptsBits', () => {
    const range = { min: 2, max: 8 };
    expect(acceptsBits(range, 2)).toBe(true);
    expect(acceptsBits(range, 5)).toBe(true);
    expect(acceptsBits(range, 8)).toBe(true);
    expect(acceptsBits(range, 1)).toBe(false);
    expect(acceptsBits(range, 9)).toBe(false);
    expect(acceptsBits(range, 2.5)).toBe(false);
    expect(acceptsBits(range, Number.NaN)).toBe(false);
    const list = { values: [1, 32] };
    expect(acceptsBits(list, 1)).toBe(true);
    expect(acceptsBits(list, 32)).toBe(true);
    expect(acceptsBits(list, 2)).toBe(false);
  });

  it('checkBits throws UNSUPPORTED_BITS naming the plugin and what it accepts', () => {
    expect(() => checkBits(fakeBwn, 1)).not.toThrow();
    const e = thrown(() => checkBits(fakeBwn, 2));
    expect(e).toBeInstanceOf(UnsupportedBitsError);
    expect(e.code).toBe('UNSUPPORTED_BITS');
    expect(e.message).toBe("quantizer 'bwn' accepts bits 1 only, got bits = 2");
    expect(thrown(() => checkBits(fakeMinmax, 1)).message).toMatch(/bits 2–16 \(integers\)/);
  });
});

describe('relaxations registry', () => {
  it('contains ste, binary-relax, dqa and qnet with their K ranges', () => {
    expect(relaxations.kind).toBe('relaxation');
    expect(relaxations.ids()).toEqual(['ste', 'binary-relax', 'dqa', 'qnet']);
    expect(relaxations.get('ste')).toBe(steRelaxation);
    expect(relaxations.get('binary-relax')).toBe(binaryRelaxRelaxation);
    expect(relaxations.get('dqa')).toBe(dqaRelaxation);
    expect([steRelaxation.minQuantizers, steRelaxation.maxQuantizers]).toEqual([1, 1]);
    expect(binaryRelaxRelaxation.minQuantizers).toBe(2);
    expect(dqaRelaxation.minQuantizers).toBe(2);
    expect(dqaRelaxation.maxQuantizers).toBeGreaterThanOrEqual(3);
    expect(relaxations.get('qnet')).toBe(qnetRelaxation);
    expect([qnetRelaxation.minQuantizers, qnetRelaxation.maxQuantizers]).toEqual([1, 1]);
    const e = thrown(() => relaxations.get('lsq'));
    expect(e.code).toBe('UNKNOWN_PLUGIN');
    expect(e.message).toBe("unknown relaxation 'lsq'; known: 'ste', 'binary-relax', 'dqa', 'qnet'");
  });
});
