/**
 * One tfjs engine's side of the speed benchmark, run in its own process (tfjs has one active
 * backend per process): `node speed-worker.js '<SpeedRequest JSON>'`. Writes `SpeedMessage` lines
 * on stdout; everything else (tfjs' own console output) goes to stderr.
 */
import type { SpeedMessage } from './protocol.js';
import type { SpeedRequest } from './spec.js';

const send = (m: SpeedMessage) => {
  process.stdout.write(`${JSON.stringify(m)}\n`);
};
// tfjs greets on console.log ("Hi there 👋 …"); keep stdout for the protocol.
console.log = console.error;
console.info = console.error;
console.warn = console.error;

const request = JSON.parse(process.argv[2] ?? '{}') as SpeedRequest;
const { measureTfjs } = await import('./tfjs-cells.js');
await measureTfjs(request, send);
