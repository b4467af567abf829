import { access } from 'node:fs/promises';
import { expect, it } from 'vitest';
import { runReadmeExample } from '../../../test-utils/readme-example.ts';

it('the README example runs as written', async () => {
  const out = await runReadmeExample(new URL('../README.md', import.meta.url).pathname);
  expect(out[0]).toMatch(/^# Fig\. 2: quantization error of BR and DQA/);
  expect(out[0]).toContain('20000 samples');
  const files = JSON.parse(out[1]!) as { md: string; json: string; svg: string; png: string };
  for (const path of Object.values(files)) await access(path);
  expect(out).toHaveLength(2);
});
