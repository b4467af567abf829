import { engine, getKernel, registerKernel, unregisterKernel } from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, it, vi } from 'vitest';
import {
  isTrainingKernelRegistered,
  registerTrainingKernels,
  stockKernel,
  trainingKernels,
  unregisterTrainingKernels,
} from '../../src/kernels/index.js';

// Captured before anything registers ours.
const stockConv2d = getKernel('Conv2D', 'cpu');
const stockMaxPoolGradWasm = getKernel('MaxPoolGrad', 'wasm');

describe('registerTrainingKernels', () => {
  afterAll(() => {
    registerTrainingKernels();
  });

  it('lists each kernel once per backend', () => {
    const keys = trainingKernels.map((k) => `${k.config.backendName}/${k.config.kernelName}`);
    expect(new Set(keys).size).toBe(keys.length);
    expect(keys).toEqual(
      expect.arrayContaining([
        'wasm/Conv2DBackpropFilter',
        'wasm/DepthwiseConv2dNativeBackpropFilter',
        'wasm/DepthwiseConv2dNativeBackpropInput',
        'cpu/Conv2DBackpropFilter',
      ]),
    );
  });

  it('importing the module registers nothing and leaves the active backend unset', () => {
    expect(stockConv2d).toBeDefined();
    expect(stockMaxPoolGradWasm).toBeDefined();
    expect(getKernel('Conv2DBackpropFilter', 'wasm')).toBeUndefined();
    expect(isTrainingKernelRegistered('Conv2D', 'cpu')).toBe(false);
    expect(engine().backendName).toBeFalsy();
  });

  it('registers every kernel, without switching the active backend', () => {
    const report = registerTrainingKernels();
    expect(report.map((r) => r.status)).toEqual(trainingKernels.map(() => 'registered'));
    for (const { config } of trainingKernels) {
      expect(isTrainingKernelRegistered(config.kernelName, config.backendName as 'cpu')).toBe(true);
    }
    expect(engine().backendName).toBeFalsy();
  });

  it('keeps the stock kernels it replaced, with their setup hooks on ours', () => {
    expect(stockKernel('Conv2D', 'cpu')).toBe(stockConv2d);
    expect(stockKernel('MaxPoolGrad', 'wasm')).toBe(stockMaxPoolGradWasm);
    expect(stockKernel('Conv2DBackpropFilter', 'wasm')).toBeUndefined();
    expect(getKernel('MaxPoolGrad', 'wasm')!.setupFunc).toBe(stockMaxPoolGradWasm!.setupFunc);
  });

  it('a second call changes nothing, warns nothing and throws nothing', () => {
    const before = trainingKernels.map((k) => getKernel(k.config.kernelName, k.config.backendName));
    const warn = vi.spyOn(console, 'warn');
    const report = registerTrainingKernels();
    expect(warn).not.toHaveBeenCalled();
    warn.mockRestore();
    expect(report.every((r) => r.status === 'already')).toBe(true);
    const after = trainingKernels.map((k) => getKernel(k.config.kernelName, k.config.backendName));
    after.forEach((config, i) => {
      expect(config).toBe(before[i]);
    });
  });

  it('a second copy of the package (a fresh module instance) neither throws nor re-captures', async () => {
    vi.resetModules();
    const copy = await import('../../src/kernels/index.js');
    expect(copy.registerTrainingKernels).not.toBe(registerTrainingKernels);
    const warn = vi.spyOn(console, 'warn');
    expect(copy.registerTrainingKernels().every((r) => r.status === 'already')).toBe(true);
    expect(warn).not.toHaveBeenCalled();
    warn.mockRestore();
    expect(copy.stockKernel('Conv2D', 'cpu')).toBe(stockConv2d);
  });

  it("leaves a kernel the backend has gained alone ('add' mode)", () => {
    unregisterTrainingKernels(['wasm']);
    const native = {
      kernelName: 'Conv2DBackpropFilter',
      backendName: 'wasm',
      kernelFunc: () => [],
    };
    registerKernel(native);
    const report = registerTrainingKernels(['wasm']);
    expect(report.find((r) => r.kernelName === 'Conv2DBackpropFilter')?.status).toBe('kept');
    expect(getKernel('Conv2DBackpropFilter', 'wasm')).toBe(native);
    unregisterKernel('Conv2DBackpropFilter', 'wasm');
  });

  it('unregisterTrainingKernels puts the stock kernels back', () => {
    unregisterTrainingKernels();
    expect(getKernel('Conv2D', 'cpu')).toBe(stockConv2d);
    expect(getKernel('MaxPoolGrad', 'wasm')).toBe(stockMaxPoolGradWasm);
    expect(getKernel('Conv2DBackpropFilter', 'wasm')).toBeUndefined();
    registerTrainingKernels();
    expect(isTrainingKernelRegistered('Conv2D', 'cpu')).toBe(true);
  });
});
