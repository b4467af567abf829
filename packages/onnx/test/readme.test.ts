import { expect, it } from 'vitest';
import { runReadmeExample } from '../../../test-utils/readme-example.ts';

it('the README example runs as written', async () => {
  const out = await runReadmeExample(new URL('../README.md', import.meta.url).pathname);
  const sizes = /float32 ONNX (\d+) B, ONNX (\d+) B, packed (\d+) B/.exec(out[0]!);
  expect(sizes).not.toBeNull();
  const [float, onnx, packed] = sizes!.slice(1).map(Number) as [number, number, number];
  // 50,186 float32 parameters ≈ 200 kB; 2-bit codes ≈ 12.5 kB plus biases, graph and metadata.
  expect(float).toBeGreaterThan(200_000);
  expect(onnx).toBeLessThan(float / 8);
  expect(packed).toBeLessThan(float / 8);
  expect(out[1]).toMatch(/^top-1 agreement 100%, max \|logit diff\| \S+ · max\|logit\|$/);
  const rel = Number(/diff\| (\S+) ·/.exec(out[1]!)![1]);
  expect(rel).toBeLessThanOrEqual(1e-4);
}, 120_000);
