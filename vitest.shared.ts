import { defineConfig } from 'vitest/config';

/**
 * Shared test settings for every package. The `@dqa/source` export condition points workspace
 * packages at their TypeScript sources, so tests never wait for a build of their dependencies.
 */
export const sharedConfig = defineConfig({
  resolve: { conditions: ['@dqa/source'] },
  ssr: { resolve: { conditions: ['@dqa/source'], externalConditions: ['@dqa/source'] } },
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
  },
});
