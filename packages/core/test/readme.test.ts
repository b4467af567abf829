import { expect, it } from 'vitest';
import { runReadmeExample } from '../../../test-utils/readme-example.ts';

it('the README example runs as written', async () => {
  const out = await runReadmeExample(new URL('../README.md', import.meta.url).pathname);
  expect(out[0]).toBe('step 0: T = 100.000, a = [0.337, 0.334, 0.329]');
  expect(out[2]).toMatch(/^step 1000: T = 0\.030, a = \[1\.000, 0\.000, 0\.000\]$/);
  expect(out).toHaveLength(5);
});
