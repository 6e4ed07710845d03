/**
 * Errors: {@link KennelError} (what the sidecar or this client reports), and Node's error
 * conventions for it, so callers that look at `err.code === "ENOENT"` (as they do with
 * `child_process`) keep working.
 */
import { statSync } from "node:fs";
import { constants } from "node:os";

/**
 * An error reported by the sidecar (`error` event: `code`, `message`, `id`, `op`), or by
 * this client. Client-side codes: `bin_not_found` (no binary configured), `start_failed`
 * (the sidecar could not be started), `sidecar_exited` (it died without `bye`),
 * `protocol_mismatch` (unknown `hello.protocol`), `closed` (the Kennel was closed),
 * `line_too_long` (a request would exceed `max_line_bytes`), `child_exited` (stdin write
 * after the child's exit). Match on `code`; `message` is for humans.
 */
export class KennelError extends Error {
  readonly code: string;
  readonly id: string | undefined;
  readonly op: string | undefined;
  constructor(code: string, message: string, opts: { id?: string; op?: string; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = "KennelError";
    this.code = code;
    this.id = opts.id;
    this.op = opts.op;
  }
}

/** The error `child_process` gives for a failed spawn: `spawn <file> <CODE>` with its fields. */
export interface SpawnErrnoError extends Error {
  /** Negative errno, as libuv reports it (`-2` for ENOENT). */
  errno: number;
  /** `ENOENT`, `EACCES`, … */
  code: string;
  /** `spawn <file>`. */
  syscall: string;
  /** The program (with `shell`, the shell). */
  path: string;
  /** The arguments after the program. */
  spawnargs: string[];
}

const errnoNames = new Map<number, string>();
for (const [name, n] of Object.entries(constants.errno)) if (!errnoNames.has(n)) errnoNames.set(n, name);

/**
 * The OS error number in a sidecar message. The sidecar's `spawn_failed` message carries
 * the OS error as Rust formats it (`… (os error 2)`); a message without one (a containment
 * failure, an invalid request) gives undefined.
 */
export function osErrorOf(message: string): number | undefined {
  const m = /\(os error (\d+)\)/.exec(message);
  return m ? Number(m[1]) : undefined;
}

/**
 * The errno `chdir(cwd)` fails with in the child (as libuv reports a bad `cwd`), or
 * undefined if `cwd` looks usable. The sidecar checks `cwd` itself and says so in words,
 * without an OS error; this finds the code `child_process` would give.
 */
function cwdErrno(cwd: string | undefined): number | undefined {
  if (cwd === undefined) return undefined;
  try {
    return statSync(cwd).isDirectory() ? undefined : constants.errno.ENOTDIR;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return code !== undefined ? (constants.errno as Record<string, number>)[code] : undefined;
  }
}

/**
 * A `spawn_failed` {@link KennelError} as `child_process` would report it: an `Error` with
 * message `spawn <file> <CODE>`, `errno` (negative), `code`, `syscall: "spawn <file>"`,
 * `path`, `spawnargs`, and the sidecar's error as `cause`. The code is the OS error in the
 * sidecar's message, else the one a bad `cwd` gives. Errors with neither (a containment
 * failure, say) or that are not `spawn_failed` are returned unchanged.
 */
export function toSpawnError(err: unknown, file: string, args: readonly string[], cwd?: string): unknown {
  if (!(err instanceof KennelError) || err.code !== "spawn_failed") return err;
  const n = osErrorOf(err.message) ?? cwdErrno(cwd);
  const code = n === undefined ? undefined : errnoNames.get(n);
  if (n === undefined || code === undefined) return err;
  const e = new Error(`spawn ${file} ${code}`, { cause: err }) as SpawnErrnoError;
  e.errno = -n;
  e.code = code;
  e.syscall = `spawn ${file}`;
  e.path = file;
  e.spawnargs = [...args];
  return e;
}

/** The signal number of a name (`"SIGTERM"`, `"term"`) or number; throws like `ChildProcess.kill` for an unknown one. */
export function signalNumber(signal: string | number): number {
  if (typeof signal === "number") {
    if (Number.isInteger(signal) && signal >= 0) return signal;
  } else {
    const upper = signal.toUpperCase();
    const name = upper.startsWith("SIG") ? upper : `SIG${upper}`;
    const n = (constants.signals as Record<string, number | undefined>)[name];
    if (n !== undefined) return n;
  }
  const e = new TypeError(`Unknown signal: ${String(signal)}`) as TypeError & { code: string };
  e.code = "ERR_UNKNOWN_SIGNAL";
  throw e;
}

/** The name of a signal number (`15` → `"SIGTERM"`), or null if this platform has none. */
export function signalName(n: number): NodeJS.Signals | null {
  for (const [name, v] of Object.entries(constants.signals)) if (v === n) return name as NodeJS.Signals;
  return null;
}
