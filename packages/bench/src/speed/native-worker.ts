/**
 * The @dqa/native-cpu side of the speed benchmark, in its own process (the addon's OpenMP threads
 * then compete with nothing else of ours): `node speed-native-worker.js '<SpeedRequest JSON>'`.
 * Writes `SpeedMessage` lines on stdout; anything else goes to stderr.
 */
import type { SpeedMessage } from './protocol.js';
import type { SpeedRequest } from './spec.js';

const send = (m: SpeedMessage) => {
  process.stdout.write(`${JSON.stringify(m)}\n`);
};
console.log = console.error;
console.info = console.error;
console.warn = console.error;

const request = JSON.parse(process.argv[2] ?? '{}') as SpeedRequest;
const { measureNativeCpu } = await import('./native-cells.js');
let native: Parameters<typeof measureNativeCpu>[0];
try {
  native = await import('@dqa/native-cpu');
} catch (e) {
  send({
    type: 'unavailable',
    reason: `@dqa/native-cpu cannot be loaded: ${(e as Error).message.split('\n')[0]}`,
    hint: 'build it: pnpm --filter @dqa/native-cpu build (needs g++ and libdnnl-dev)',
  });
  process.exit(0);
}
await measureNativeCpu(native, request, send);
