import { defineConfig } from 'vitest/config';

// Runs every package's tests in one process from the root (`pnpm test` after the build); each
// package also runs alone with `pnpm --filter <name> test`.
export default defineConfig({
  test: {
    projects: ['packages/*', 'apps/*', 'examples/*'],
    reporters: ['default', './test-utils/summary-reporter.ts'],
  },
});
