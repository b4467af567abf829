import { defineConfig } from 'tsup';

export default defineConfig({
  // speed-worker: the tfjs side of `dqa bench speed`, started as `node dist/speed-worker.js`.
  entry: { index: 'src/index.ts', 'speed-worker': 'src/speed/worker.ts' },
  format: ['esm'],
  dts: { entry: { index: 'src/index.ts' } },
  sourcemap: true,
  clean: true,
  target: 'es2022',
});
