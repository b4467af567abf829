import { expect, it } from 'vitest';
import { runReadmeExample } from '../../../test-utils/readme-example.ts';

it('the README example runs as written', async () => {
  const out = await runReadmeExample(new URL('../README.md', import.meta.url).pathname);
  expect(out[0]).toMatch(
    /^tfjs-(wasm|tensorflow) \(tfjs 4\.22\.0, .*\); auto: @tensorflow\/tfjs-node /,
  );
  expect(out.slice(1)).toEqual([
    // The same numbers as the reference backend of @dqa/core.
    'step 0: loss 0.3032',
    'step 1: loss 0.2815',
    'step 2: loss 0.2290',
    'w after 3 steps: 0.83 -0.63 -0.40 1.00',
    'live tensors: 0',
  ]);
});
