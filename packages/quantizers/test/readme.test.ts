import { expect, it } from 'vitest';
import { runReadmeExample } from '../../../test-utils/readme-example.ts';

it('the README example runs as written', async () => {
  const out = await runReadmeExample(new URL('../README.md', import.meta.url).pathname);
  // min-max 2-bit on [−1.2, 2]: Δ = 3.2/3; BWN: β = E|x| = 4.85/6.
  expect(out[0]).toBe('minmax 2-bit: -1.2 -0.133 -0.133 -0.133 0.933 2');
  expect(out[2]).toBe('bwn    1-bit: -0.808 -0.808 0.808 0.808 0.808 0.808');
  expect(out[4]).toBe('fp     32-bit: -1.2 -0.4 0.05 0.3 0.9 2');
  expect(out).toHaveLength(5);
});
