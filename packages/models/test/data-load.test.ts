import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { DqaError } from '@dqa/core';
import { describe, expect, it } from 'vitest';
import {
  type Dataset,
  datasetLoaders,
  datasetNames,
  defaultCacheDir,
  loadDataset,
} from '../src/data/index.js';

describe('loadDataset', () => {
  it('knows mnist, fashion-mnist, cifar10 and cifar100', () => {
    expect(datasetNames()).toEqual(['mnist', 'fashion-mnist', 'cifar10', 'cifar100']);
  });

  it('lists the known names for an unknown one', async () => {
    const e = await loadDataset('imagenet').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(DqaError);
    expect((e as DqaError).code).toBe('UNKNOWN_PLUGIN');
    expect((e as DqaError).message).toBe(
      "unknown data set 'imagenet'; known: 'mnist', 'fashion-mnist', 'cifar10', 'cifar100'",
    );
  });

  it('dispatches to a registered loader with the options', async () => {
    const seen: unknown[] = [];
    const tiny: Dataset = {
      name: 'tiny',
      inputShape: [1, 1, 1],
      classes: 2,
      train: { images: Uint8Array.from([0, 255]), labels: Uint8Array.from([0, 1]), count: 2 },
      test: { images: Uint8Array.from([0]), labels: Uint8Array.from([0]), count: 1 },
      mean: [0.5],
      std: [0.5],
    };
    datasetLoaders.register({
      id: 'tiny',
      description: 'two pixels',
      load: async (o) => {
        seen.push(o);
        return tiny;
      },
    });
    try {
      expect(await loadDataset('tiny', { root: '/data' })).toBe(tiny);
      expect(seen).toEqual([{ root: '/data' }]);
    } finally {
      datasetLoaders.unregister('tiny');
    }
  });
});

describe('defaultCacheDir', () => {
  it('prefers $DQA_CACHE_DIR, then $XDG_CACHE_HOME/dqa, then ~/.cache/dqa', () => {
    expect(defaultCacheDir({ DQA_CACHE_DIR: '/a', XDG_CACHE_HOME: '/b' })).toBe(resolve('/a'));
    expect(defaultCacheDir({ XDG_CACHE_HOME: '/b' })).toBe(resolve('/b', 'dqa'));
    expect(defaultCacheDir({})).toBe(join(homedir(), '.cache', 'dqa'));
  });
});
