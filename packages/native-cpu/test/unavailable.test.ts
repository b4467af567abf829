import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it, vi } from 'vitest';
import { expectUnavailableError } from './native.js';

// The package without its addon (as after `pnpm install` on a machine without oneDNN): importing
// works, `nativeCpuAvailable` says why and how to fix it, and creating the backend throws the
// same. DQA_NATIVE_ADDON points the loader at a file that is not there, or not an addon.
afterEach(() => {
  vi.unstubAllEnvs();
  vi.resetModules();
});

async function freshPackage(addon: string) {
  vi.stubEnv('DQA_NATIVE_ADDON', addon);
  vi.resetModules();
  return import('../src/index.js');
}

it('without the addon the package imports, reports why, and the backend throws BACKEND_UNAVAILABLE', async () => {
  const missing = join(tmpdir(), 'no-such-dir', 'dqa_native_cpu.node');
  const pkg = await freshPackage(missing);
  const a = pkg.nativeCpuAvailable();
  expect(a.available).toBe(false);
  if (a.available) return;
  expect(a.reason).toContain(missing);
  expect(a.reason).toMatch(/not built/);
  expect(a.hint).toMatch(/apt-get install libdnnl-dev g\+\+ make python3/);
  expectUnavailableError(() => pkg.createNativeCpuBackend());
  expectUnavailableError(() => pkg.setThreads(2));
});

it('a file that is not a loadable addon is reported with the loader error', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'dqa-native-'));
  const broken = join(dir, 'dqa_native_cpu.node');
  writeFileSync(broken, 'not an ELF shared object');
  const pkg = await freshPackage(broken);
  const a = pkg.nativeCpuAvailable();
  expect(a.available).toBe(false);
  if (a.available) return;
  expect(a.reason).toMatch(/does not load/);
  expectUnavailableError(() => pkg.createNativeCpuBackend());
});
