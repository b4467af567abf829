import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { parseSpeedMessage, type SpeedMessage } from './protocol.js';

/** How a backend's process is started. */
export interface ChildCommand {
  command: string;
  args: string[];
  env?: Record<string, string>;
}

export interface ChildOutcome {
  /** Exit code (null when killed by a signal). */
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The command could not be started at all (ENOENT: not installed). */
  spawnError?: NodeJS.ErrnoException;
  /** The last lines of stderr and of non-protocol stdout, for error messages. */
  tail: string;
  /** Malformed protocol lines. */
  protocolErrors: string[];
}

const TAIL_LINES = 20;

/**
 * Starts `cmd`, hands every protocol message on its stdout to `onMessage` as it arrives, and
 * resolves when the process has exited and its output is read. Never rejects: a missing command,
 * a crash or a non-zero exit are in the outcome for the caller to report.
 */
export function runProtocolChild(
  cmd: ChildCommand,
  onMessage: (m: SpeedMessage) => void,
): Promise<ChildOutcome> {
  return new Promise((resolvePromise) => {
    const tail: string[] = [];
    const protocolErrors: string[] = [];
    const keep = (line: string) => {
      if (!line.trim()) return;
      tail.push(line);
      if (tail.length > TAIL_LINES) tail.shift();
    };
    let spawnError: NodeJS.ErrnoException | undefined;
    const child = spawn(cmd.command, cmd.args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...cmd.env },
    });
    const out = createInterface({ input: child.stdout });
    const err = createInterface({ input: child.stderr });
    let open = 2;
    let exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;
    const finish = () => {
      if (open > 0 || !exit) return;
      resolvePromise({ ...exit, spawnError, tail: tail.join('\n'), protocolErrors });
    };
    out.on('line', (line) => {
      const m = parseSpeedMessage(line);
      if (m === null) keep(line);
      else if ('malformed' in m) protocolErrors.push(m.malformed);
      else onMessage(m);
    });
    err.on('line', keep);
    out.on('close', () => {
      open--;
      finish();
    });
    err.on('close', () => {
      open--;
      finish();
    });
    child.on('error', (e: NodeJS.ErrnoException) => {
      spawnError = e;
      // No 'exit' follows a failed spawn.
      exit ??= { code: null, signal: null };
      finish();
    });
    child.on('exit', (code, signal) => {
      exit = { code, signal };
      finish();
    });
  });
}
