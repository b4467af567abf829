import { expect, it } from 'vitest';
import { runReadmeExample } from '../../../test-utils/readme-example.ts';
import { describeNative } from './native.js';

describeNative('native-cpu README', () => {
  it('the README example runs as written and trains', async () => {
    const out = await runReadmeExample(new URL('../README.md', import.meta.url).pathname);
    expect(out[0]).toMatch(/^native-cpu: oneDNN 2\.\d+\.\d+, OpenMP, \d+ threads$/);
    const m = /^64 steps in [\d.]+ s, test accuracy ([\d.]+) %$/.exec(out[1] ?? '');
    expect(m, `second line: ${out[1]}`).not.toBeNull();
    expect(Number(m![1])).toBeGreaterThan(85);
  });
});
