import { defineConfig } from 'vitest/config';

// Runs every package's tests from the root (`pnpm test:unit`); each package also runs alone.
export default defineConfig({
  test: { projects: ['packages/*', 'apps/*', 'examples/*'] },
});
