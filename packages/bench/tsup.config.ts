import { defineConfig } from 'tsup';

export default defineConfig({
  // speed-worker: the tfjs side of `dqa bench speed`, started as `node dist/speed-worker.js`;
  // speed-native-worker: its @dqa/native-cpu side.
  entry: {
    index: 'src/index.ts',
    'speed-worker': 'src/speed/worker.ts',
    'speed-native-worker': 'src/speed/native-worker.ts',
  },
  format: ['esm'],
  dts: { entry: { index: 'src/index.ts' } },
  sourcemap: true,
  clean: true,
  target: 'es2022',
});
