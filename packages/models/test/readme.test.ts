import { expect, it } from 'vitest';
import { runReadmeExample } from '../../../test-utils/readme-example.ts';

it('the README example runs as written', async () => {
  const out = await runReadmeExample(new URL('../README.md', import.meta.url).pathname);
  expect(out.slice(0, 3)).toEqual([
    'resnet18: 11,689,512 parameters',
    'mobilenetv2: 3,504,872 parameters',
    'resnet20: 272,474 parameters',
  ]);
  const acc = Number(/test accuracy: ([\d.]+)%/.exec(out[3]!)?.[1]);
  expect(acc).toBeGreaterThan(60);
}, 120_000);
