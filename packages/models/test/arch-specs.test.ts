import { DqaError } from '@dqa/core';
import { describe, expect, it } from 'vitest';
import { planFusions } from '../src/architectures/build.js';
import {
  architectureNames,
  architectureSpec,
  architectures,
  cnnSmall,
  countParameters,
  countState,
  getArchitecture,
  inferShapes,
  lenet5,
  MODEL_INPUT,
  ModelOptionError,
  type ModelSpec,
  makeDivisible,
  mlp,
  mobilenetv2,
  outputShape,
  parameterSpecs,
  quantizableLayers,
  resnet18,
  resnet20,
  SpecBuilder,
  summarizeSpec,
} from '../src/architectures/index.js';

/** The error `fn` throws (fails the test if it throws none or a non-DqaError). */
function thrown(fn: () => unknown): DqaError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(DqaError);
    return e as DqaError;
  }
  return expect.fail('expected an error');
}

describe('canonical parameter counts', () => {
  it('cnn-small: exactly the benchmark CNN, 50,186 parameters', () => {
    const spec = cnnSmall();
    expect(countParameters(spec)).toBe(50_186);
    expect(countState(spec)).toBe(0);
    const dense = spec.nodes.find((n) => n.name === 'logits');
    expect(dense).toMatchObject({ op: 'dense', units: 10, useBias: true });
    expect(parameterSpecs(spec).map((p) => `${p.name} [${p.shape.join(',')}]`)).toEqual([
      'conv1/kernel [3,3,1,32]',
      'conv1/bias [32]',
      'conv2/kernel [3,3,32,64]',
      'conv2/bias [64]',
      'logits/kernel [3136,10]',
      'logits/bias [10]',
    ]);
  });

  it('mlp: LeNet-300-100 by default, any hidden widths', () => {
    expect(countParameters(mlp())).toBe(784 * 300 + 300 + 300 * 100 + 100 + 100 * 10 + 10);
    expect(countParameters(mlp())).toBe(266_610);
    expect(countParameters(mlp({ hidden: [] }))).toBe(7_850);
    expect(countParameters(mlp({ hidden: [16], inputShape: [4, 4, 1], classes: 3 }))).toBe(
      16 * 16 + 16 + 16 * 3 + 3,
    );
  });

  it('lenet5: 61,706 parameters on 28×28 (same) and on 32×32 (valid)', () => {
    expect(countParameters(lenet5())).toBe(61_706);
    expect(countParameters(lenet5({ inputShape: [32, 32, 1], conv1Padding: 'valid' }))).toBe(
      61_706,
    );
    expect(inferShapes(lenet5()).get('flatten')).toEqual([400]);
  });

  it('resnet20: 272,474 (≈ 0.27M, option-B shortcuts) and 1,568 moving statistics', () => {
    const spec = resnet20();
    expect(countParameters(spec)).toBe(272_474);
    expect(Math.round(countParameters(spec) / 1e4) / 100).toBe(0.27);
    expect(countState(spec)).toBe(1_568);
    // 19 convolutions on the main path + 2 projection shortcuts + the dense layer.
    expect(quantizableLayers(spec).length).toBe(22);
    expect(
      spec.nodes.filter((n) => n.op === 'conv2d').every((n) => n.op === 'conv2d' && !n.useBias),
    ).toBe(true);
    expect(inferShapes(spec).get('stage3.block3.relu2')).toEqual([8, 8, 64]);
  });

  it("resnet18: torchvision's 11,689,512 with the ImageNet stem at 1000 classes, 11,173,962 CIFAR", () => {
    expect(countParameters(resnet18({ stem: 'imagenet' }))).toBe(11_689_512);
    expect(countParameters(resnet18())).toBe(11_173_962);
    expect(countParameters(resnet18({ stem: 'cifar', classes: 100 }))).toBe(11_173_962 + 90 * 513);
    const shapes = inferShapes(resnet18({ stem: 'imagenet' }));
    expect(shapes.get('stem.pool')).toEqual([56, 56, 64]);
    expect(shapes.get('stage4.block2.relu2')).toEqual([7, 7, 512]);
    expect(inferShapes(resnet18()).get('stage4.block2.relu2')).toEqual([4, 4, 512]);
  });

  it("mobilenetv2: torchvision's 3,504,872 at width 1 and 1000 classes; the CIFAR variant downsamples 8×", () => {
    const imagenet = mobilenetv2({ variant: 'imagenet' });
    expect(countParameters(imagenet)).toBe(3_504_872);
    expect(imagenet.inputShape).toEqual([224, 224, 3]);
    expect(inferShapes(imagenet).get('head.relu')).toEqual([7, 7, 1280]);
    const cifar = mobilenetv2();
    expect(cifar.inputShape).toEqual([32, 32, 3]);
    expect(inferShapes(cifar).get('head.relu')).toEqual([4, 4, 1280]);
    // Same weights as the ImageNet network except the classifier (10 instead of 1000 classes).
    expect(countParameters(cifar)).toBe(3_504_872 - 990 * 1281);
    expect(quantizableLayers(cifar).filter((n) => n.op === 'depthwiseConv2d').length).toBe(17);
    expect(cifar.nodes.filter((n) => n.op === 'add').length).toBe(10);
  });

  it("mobilenetv2's width multiplier rounds channels as torchvision's _make_divisible", () => {
    expect([makeDivisible(32 * 0.5), makeDivisible(16 * 0.35), makeDivisible(24 * 0.75)]).toEqual([
      16, 8, 24,
    ]);
    expect(makeDivisible(10)).toBe(16); // never more than 10% below: 8 < 9 → 16
    const half = mobilenetv2({ variant: 'imagenet', width: 0.5 });
    expect(half.nodes.find((n) => n.name === 'stem.conv')).toMatchObject({ filters: 16 });
    // The last conv stays at 1280 below width 1 (torchvision's max(1, width)).
    expect(half.nodes.find((n) => n.name === 'head.conv')).toMatchObject({ filters: 1280 });
    expect(countParameters(half)).toBe(1_968_680);
  });
});

describe('registry and options', () => {
  it('lists the architectures and refuses an unknown name, listing the known ones', () => {
    expect(architectureNames()).toEqual([
      'mlp',
      'lenet5',
      'cnn-small',
      'resnet20',
      'resnet18',
      'mobilenetv2',
    ]);
    const e = thrown(() => getArchitecture('resnet50'));
    expect(e.code).toBe('UNKNOWN_PLUGIN');
    expect(e.message).toBe(
      "unknown architecture 'resnet50'; known: 'mlp', 'lenet5', 'cnn-small', 'resnet20', 'resnet18', 'mobilenetv2'",
    );
    expect(() => architectures.register(getArchitecture('mlp'))).toThrow(
      /architecture 'mlp' is already registered/,
    );
  });

  it('builds every architecture from untyped options, as a config gives them', () => {
    const spec = getArchitecture('resnet18').spec({ stem: 'imagenet', classes: 100 });
    expect(spec.classes).toBe(100);
    expect(outputShape(spec)).toEqual([100]);
    expect(getArchitecture('mobilenetv2').spec({ inputSize: 64 }).inputShape).toEqual([64, 64, 3]);
  });

  it('names the bad option and what it expected', () => {
    const cases: [string, Record<string, unknown>, RegExp][] = [
      [
        'mlp',
        { hidden: [100, 0] },
        /^model 'mlp': option 'hidden' must be a list of integers ≥ 1, got \[100,0\]$/,
      ],
      ['mlp', { classes: 2.5 }, /^model 'mlp': option 'classes' must be an integer ≥ 1, got 2\.5$/],
      [
        'resnet18',
        { stem: 'tiny' },
        /^model 'resnet18': option 'stem' must be 'cifar' or 'imagenet', got "tiny"$/,
      ],
      ['mobilenetv2', { width: 0 }, /option 'width' must be a number in \(0, 4\], got 0/],
      [
        'resnet20',
        { inputShape: [32, 32] },
        /option 'inputShape' must be \[height, width, channels\] of positive integers, got \[32,32\]/,
      ],
      ['lenet5', { conv1Padding: 2 }, /option 'conv1Padding' must be 'same' or 'valid', got 2/],
      [
        'cnn-small',
        { inputShape: [28, 28, 1], inputSize: 28 },
        /give option 'inputShape' or 'inputSize', not both/,
      ],
      [
        'mobilenetv2',
        { widht: 0.5 },
        /^model 'mobilenetv2': unknown option 'widht' \(did you mean 'width'\?\); options: 'variant', 'width', 'classes', 'inputShape', 'inputSize'$/,
      ],
    ];
    for (const [name, options, message] of cases) {
      const e = thrown(() => getArchitecture(name).spec(options));
      expect(e).toBeInstanceOf(ModelOptionError);
      expect(e.code).toBe('INVALID_ARGUMENT');
      expect(e.message).toMatch(message);
    }
    expect(
      (thrown(() => mlp({ hidden: [] as number[], classes: -1 })) as ModelOptionError).option,
    ).toBe('classes');
  });

  it('says which node an input that is too small breaks', () => {
    const e = thrown(() => cnnSmall({ inputSize: 2 }));
    expect(e.code).toBe('SHAPE_MISMATCH');
    expect(e.message).toBe(
      "model 'cnn-small', node 'pool2' (maxPool): input 'relu2' [1, 1, 64]: maxPool: window [2, 2] does not fit input [1, 1, 1, 64]",
    );
    expect(thrown(() => lenet5({ inputSize: 8 })).message).toMatch(
      /^model 'lenet5', node 'conv2' \(conv2d\): input 'pool1' \[4, 4, 6\]: conv2d: filter \[5, 5, 6, 16\]/,
    );
  });
});

describe('shape inference', () => {
  const base = (): SpecBuilder => new SpecBuilder('tiny', [6, 6, 2], 3);

  it('infers every node shape', () => {
    const g = base();
    let h = g.conv2d('conv', g.input, { filters: 4, kernelSize: 3, strides: 2 });
    h = g.batchNorm('bn', h);
    const r = g.relu6('act', h);
    h = g.add('sum', h, r);
    h = g.depthwiseConv2d('dw', h, { kernelSize: 3, multiplier: 2, padding: 'valid' });
    h = g.avgPool('pool', h, { pool: 1 });
    g.dense('logits', g.flatten('flatten', h), { units: 3 });
    const spec = g.build();
    const shapes = inferShapes(spec);
    expect(shapes.get(MODEL_INPUT)).toEqual([6, 6, 2]);
    expect(shapes.get('conv')).toEqual([3, 3, 4]);
    expect(shapes.get('dw')).toEqual([1, 1, 8]);
    expect(shapes.get('flatten')).toEqual([8]);
    expect(countParameters(spec)).toBe(9 * 2 * 4 + 4 + 8 + 9 * 4 * 2 + 8 + 8 * 3 + 3);
    expect(countState(spec)).toBe(8);
    expect(summarizeSpec(spec).map((r) => [r.name, r.outputShape.join('x'), r.parameters])).toEqual(
      [
        ['conv', '3x3x4', 76],
        ['bn', '3x3x4', 8],
        ['act', '3x3x4', 0],
        ['sum', '3x3x4', 0],
        ['dw', '1x1x8', 80],
        ['pool', '1x1x8', 0],
        ['flatten', '8', 0],
        ['logits', '3', 27],
      ],
    );
  });

  it('names the node and the shapes when they do not fit', () => {
    const dense = base();
    dense.dense('logits', dense.conv2d('conv', dense.input, { filters: 3, kernelSize: 1 }), {
      units: 3,
    });
    const e = thrown(() => dense.build());
    expect(e.code).toBe('SHAPE_MISMATCH');
    expect(e.message).toBe(
      "model 'tiny', node 'logits' (dense): needs a flat input [features], but 'conv' has shape [6, 6, 3]; add a flatten or globalAvgPool node before it",
    );

    const add = base();
    const a = add.conv2d('a', add.input, { filters: 4, kernelSize: 3 });
    const b = add.conv2d('b', add.input, { filters: 4, kernelSize: 3, strides: 2 });
    add.dense('logits', add.globalAvgPool('gap', add.add('sum', a, b)), { units: 3 });
    expect(thrown(() => add.build()).message).toBe(
      "model 'tiny', node 'sum' (add): inputs must have the same shape, but 'a' is [6, 6, 4] and 'b' is [3, 3, 4]",
    );

    const out = base();
    out.dense('logits', out.flatten('flatten', out.input), { units: 4 });
    expect(thrown(() => out.build()).message).toBe(
      "model 'tiny': the output node 'logits' has shape [4], expected [3] (one logit per class)",
    );

    const pool = base();
    pool.dense('logits', pool.flatten('f', pool.maxPool('p', pool.input, { pool: 7 })), {
      units: 3,
    });
    expect(thrown(() => pool.build()).message).toMatch(
      /^model 'tiny', node 'p' \(maxPool\): input 'input' \[6, 6, 2\]: maxPool: window \[7, 7\] does not fit/,
    );

    const flat = base();
    flat.dense('logits', flat.globalAvgPool('gap', flat.flatten('f', flat.input)), { units: 3 });
    expect(thrown(() => flat.build()).message).toBe(
      "model 'tiny', node 'gap' (globalAvgPool): needs an image input [height, width, channels], but 'f' has shape [72]",
    );
  });

  it('refuses structural mistakes, naming them', () => {
    const spec = (nodes: unknown[], over: Partial<ModelSpec> = {}): ModelSpec =>
      ({ name: 'bad', inputShape: [4, 4, 1], classes: 2, nodes, ...over }) as ModelSpec;
    const flat = { op: 'flatten', name: 'f', inputs: ['input'] };
    const logits = { op: 'dense', name: 'logits', inputs: ['f'], units: 2, useBias: true };
    expect(inferShapes(spec([flat, logits])).get('logits')).toEqual([2]);
    const messages = [
      [
        spec([flat, logits], { inputShape: [4, 4] as never }),
        /inputShape must be \[height, width, channels\]/,
      ],
      [spec([flat, logits], { classes: 0 }), /classes must be a positive integer, got 0/],
      [spec([]), /^model 'bad': the spec has no nodes$/],
      [spec([flat, flat, logits]), /^model 'bad': two nodes are named 'f'$/],
      [spec([{ ...flat, name: 'input' }, logits]), /node name 'input' is reserved/],
      [
        spec([{ ...flat, inputs: ['x'] }, logits]),
        /node 'f' \(flatten\): input 'x' is not 'input' or an earlier node/,
      ],
      [
        spec([logits, flat]),
        /node 'logits' \(dense\): input 'f' is not 'input' or an earlier node \(nodes must be in topological order\)/,
      ],
      [
        spec([flat, { ...logits, inputs: ['f', 'f'] }]),
        /node 'logits' \(dense\): takes 1 input, got \["f","f"\]/,
      ],
      [
        spec([flat, { ...logits, units: 0 }]),
        /node 'logits' \(dense\): units must be a positive integer, got 0/,
      ],
      [
        spec([flat, { op: 'softmax', name: 's', inputs: ['f'] }, logits]),
        /node 's' \(softmax\): unknown op "softmax"/,
      ],
      [
        spec([flat, { op: 'relu', name: 'dead', inputs: ['f'] }, logits]),
        /^model 'bad': node 'dead' feeds nothing/,
      ],
      [
        spec([
          {
            op: 'conv2d',
            name: 'c',
            inputs: ['input'],
            filters: 2,
            kernelSize: [3, 3],
            strides: [0, 1],
            padding: 'same',
            dilations: [1, 1],
            useBias: true,
          },
          { ...flat, inputs: ['c'] },
          logits,
        ]),
        /node 'c' \(conv2d\): strides must be a pair of positive integers, got \[0,1\]/,
      ],
      [
        spec([
          { op: 'batchNorm', name: 'bn', inputs: ['input'], epsilon: 1e-5, momentum: 1 },
          { ...flat, inputs: ['bn'] },
          logits,
        ]),
        /node 'bn' \(batchNorm\): momentum must be in \[0, 1\)/,
      ],
    ] as const;
    for (const [s, message] of messages)
      expect(thrown(() => inferShapes(s)).message).toMatch(message);
  });
});

describe('fusion plan of the forward pass', () => {
  const kinds = (name: string) => {
    const plan = planFusions(architectureSpec(name));
    const count = (k: string) => [...plan.values()].filter((f) => f.kind === k).length;
    return { plan, relu: count('relu'), residual: count('residual'), deferred: count('deferred') };
  };

  it('ResNet-20: every BN → ReLU fused, every block tail fused as BN + residual + ReLU', () => {
    const { plan, relu, residual, deferred } = kinds('resnet20');
    // The stem's BN and each of the 9 blocks' first BN feed a ReLU; each block ends in
    // bn2 + shortcut → ReLU; convolutions feed batch norms, so none fuses.
    expect(relu).toBe(10);
    expect(residual).toBe(9);
    expect(deferred).toBe(9);
    for (const f of plan.values()) if (f.kind === 'residual') expect(f.activation).toBe('relu');
  });

  it('the small CNN fuses each convolution with its ReLU; MobileNetV2 fuses its residual adds without ReLU', () => {
    expect(kinds('cnn-small')).toMatchObject({ relu: 2, residual: 0 });
    const mv2 = kinds('mobilenetv2');
    expect(mv2.relu).toBe(0); // relu6 is not fused
    expect(mv2.residual).toBeGreaterThan(0);
    for (const f of mv2.plan.values())
      if (f.kind === 'residual') expect(f.activation).toBe('linear');
  });
});
