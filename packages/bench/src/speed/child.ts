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
  /** Killed after `stallMs` without a line of output (a hung engine). */
  stalled?: boolean;
}

const TAIL_LINES = 20;

/**
 * Starts `cmd`, hands every protocol message on its stdout to `onMessage` as it arrives, and
 * resolves when the process has exited and its output is read. Never rejects: a missing command,
 * a crash or a non-zero exit are in the outcome for the caller to report. With `stallMs`, a
 * process that writes no line for that long is killed (`stalled` in the outcome), so one hung
 * engine cannot hang the whole benchmark.
 */
export function runProtocolChild(
  cmd: ChildCommand,
  onMessage: (m: SpeedMessage) => void,
  options: { stallMs?: number } = {},
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
    let stalled = false;
    const child = spawn(cmd.command, cmd.args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...cmd.env },
    });
    let timer: NodeJS.Timeout | undefined;
    const watch = () => {
      if (options.stallMs === undefined) return;
      clearTimeout(timer);
      timer = setTimeout(() => {
        stalled = true;
        child.kill('SIGKILL');
      }, options.stallMs);
    };
    watch();
    const out = createInterface({ input: child.stdout });
    const err = createInterface({ input: child.stderr });
    let open = 2;
    let exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;
    const finish = () => {
      if (open > 0 || !exit) return;
      clearTimeout(timer);
      resolvePromise({
        ...exit,
        spawnError,
        tail: tail.join('\n'),
        protocolErrors,
        ...(stalled ? { stalled } : {}),
      });
    };
    out.on('line', (line) => {
      watch();
      const m = parseSpeedMessage(line);
      if (m === null) keep(line);
      else if ('malformed' in m) protocolErrors.push(m.malformed);
      else onMessage(m);
    });
    err.on('line', (line) => {
      watch();
      keep(line);
    });
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
