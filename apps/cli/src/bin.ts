#!/usr/bin/env node
import { main } from './index.js';

// `dqa … | head`: the reader went away. Stop quietly, as Unix tools do, instead of an unhandled
// 'error' event with a stack trace.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});

process.exitCode = await main(process.argv);
