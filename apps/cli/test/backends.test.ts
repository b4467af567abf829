import { afterEach, describe, expect, it, vi } from 'vitest';

// `--backend auto` takes the fastest engine present and says which: native-cpu where its addon
// loads, else tfjs (tfjs-node where installed, else wasm with data-parallel workers).
afterEach(() => {
  vi.doUnmock('@dqa/native-cpu');
  vi.resetModules();
});

describe('dqa train --backend auto', () => {
  it('takes native-cpu where it is built, its threads as compute threads', async () => {
    const { nativeCpuAvailable } = await import('@dqa/native-cpu');
    const { createCliBackend } = await import('../src/train/backends.js');
    const available = nativeCpuAvailable().available;
    // CI builds the addon (DQA_REQUIRE_NATIVE=1), so there this branch is the one tested.
    if (process.env.DQA_REQUIRE_NATIVE === '1') expect(available).toBe(true);
    const c = await createCliBackend('auto', 2);
    if (available) {
      expect(c.backend.name).toBe('native-cpu');
      // No data-parallel workers: the engine's own threads do the work.
      expect(c.threads).toBe(1);
      expect(c.note).toMatch(
        /^native-cpu \(oneDNN \d+\.\d+\.\d+, 2 compute threads\), chosen by --backend auto$/,
      );
    } else {
      expect(c.backend.name).toMatch(/^tfjs-/);
      expect(c.note).toMatch(/chosen by --backend auto \(native-cpu unavailable: /);
    }
    c.backend.close?.();
  });

  it('falls back to tfjs wasm with one worker per thread, and says why', async () => {
    vi.doMock('@dqa/native-cpu', async (original) => ({
      ...(await original<typeof import('@dqa/native-cpu')>()),
      nativeCpuAvailable: () => ({
        available: false,
        reason: 'the addon is not built (test)',
        hint: 'install libdnnl-dev',
      }),
    }));
    vi.resetModules();
    const { createCliBackend } = await import('../src/train/backends.js');
    const c = await createCliBackend('auto', 2);
    expect(c.backend.name).toBe('tfjs-wasm');
    expect(c.threads).toBe(2);
    expect(c.note).toMatch(
      /^tfjs-wasm × 2 data-parallel threads, chosen by --backend auto \(native-cpu unavailable: the addon is not built \(test\)/,
    );
  });

  it('native-cpu by name: --threads caps its compute threads', async () => {
    const { nativeCpuAvailable } = await import('@dqa/native-cpu');
    const { createCliBackend } = await import('../src/train/backends.js');
    if (!nativeCpuAvailable().available) {
      await expect(createCliBackend('native-cpu', 1)).rejects.toThrow(
        /backend 'native-cpu' is unavailable: .*apt-get install libdnnl-dev/,
      );
      return;
    }
    const c = await createCliBackend('native-cpu', 1);
    expect(c.note).toMatch(/^native-cpu \(oneDNN [\d.]+, 1 compute thread\)$/);
    expect(c.threads).toBe(1);
  });
});
