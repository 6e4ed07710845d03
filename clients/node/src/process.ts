/**
 * `kennel/process`: a drop-in for the `Process` helper many Node coding agents use
 * (`spawn` / `run` / `text` / `lines` / `stop`), backed by the kennel sidecar, so a call
 * site can switch implementations behind a flag. See README.md for the differences.
 */
import type { Readable, Writable } from "node:stream";
import {
  exitStatus,
  getDefaultKennel,
  Kennel,
  KennelChild,
  KennelError,
  type Outcome,
  type Signal,
  type SpawnOptions,
} from "./index.js";

export { KennelError, exitStatus, type Outcome, type Signal } from "./index.js";

/** What to do with one stdio stream of the child. */
export type StdioMode = "inherit" | "pipe" | "ignore";

/** Options of {@link spawn}. */
export interface ProcessOptions {
  /** Working directory (default: this process's `process.cwd()` at spawn time). */
  cwd?: string;
  /** Merged over this process's `process.env`; `null` = empty environment; absent = inherit `process.env`. */
  env?: Record<string, string | undefined> | null;
  /** Default `"ignore"`. `"inherit"` pipes `process.stdin` into the child. */
  stdin?: StdioMode;
  /** Default `"ignore"` for spawn, `"pipe"` for run/text/lines. `"inherit"` forwards to `process.stdout`. */
  stdout?: StdioMode;
  /** Default `"ignore"` for spawn, `"pipe"` for run/text/lines. `"inherit"` forwards to `process.stderr`. */
  stderr?: StdioMode;
  /** `true`: `cmd.join(" ")` is run by `/bin/sh -c`; a string: by that shell with `-c`. */
  shell?: boolean | string;
  /** Aborting it runs the ladder (`kill`, wait `timeout`, SIGKILL) on the whole tree. */
  abort?: AbortSignal;
  /** First signal of the ladder (default `"SIGTERM"`). */
  kill?: Signal;
  /** Grace in ms between the first signal and the forceful SIGKILL (default 5000). */
  timeout?: number;
  /** The Kennel to use (default: {@link getDefaultKennel}, binary from env `KENNEL_BIN`). */
  kennel?: Kennel;
}

/** Options of {@link run}, {@link text}, {@link lines}. */
export interface RunOptions extends ProcessOptions {
  /** Resolve instead of rejecting on a non-zero exit code. */
  nothrow?: boolean;
  /** Written to the child's stdin, which is then closed (overrides `stdin`). */
  input?: string | Uint8Array;
}

/** A running child, shaped like `ChildProcess` / the agents' `Process` object. */
export interface KennelProcess {
  /** The leader's pid; `undefined` until the sidecar reported the spawn (see `spawned`). */
  readonly pid: number | undefined;
  /** Resolves with the pid once spawned; rejects (`spawn_failed`, …) if it could not start. */
  readonly spawned: Promise<number>;
  /** Writable stdin with `stdin: "pipe"`, else null. */
  readonly stdin: Writable | null;
  /** Readable stdout with `stdout: "pipe"`, else null. */
  readonly stdout: Readable | null;
  /** Readable stderr with `stderr: "pipe"`, else null. */
  readonly stderr: Readable | null;
  /**
   * Exit status: the code, or 128 + N for a death by signal N (never a bare `1` that
   * hides a crash). Resolves after all output was delivered (and, for `"inherit"`,
   * forwarded). Rejects with a {@link KennelError} if the child could not be spawned or
   * the sidecar died.
   */
  readonly exited: Promise<number>;
  /** The full report (signal, reason, bytes, leftovers killed, …). */
  readonly outcome: Promise<Outcome>;
  /** True once the child's exit was reported. */
  readonly killed: boolean;
  /** The underlying native child. */
  readonly child: KennelChild;
  /**
   * Send `signal` (default SIGTERM) to the child's whole tree. SIGKILL uses the forceful
   * rung (also reaches escaped descendants). Returns false if the child already exited.
   */
  kill(signal?: Signal): boolean;
}

/** Rejection of {@link run} for a non-zero exit code. */
export class RunFailedError extends Error {
  readonly cmd: string[];
  readonly code: number;
  readonly stdout: Buffer;
  readonly stderr: Buffer;
  readonly outcome: Outcome;
  constructor(cmd: string[], code: number, stdout: Buffer, stderr: Buffer, outcome: Outcome) {
    const err = stderr.toString("utf8").trim();
    super(`Command failed with code ${code}: ${cmd.join(" ")}` + (err ? `\n${err}` : ""));
    this.name = "RunFailedError";
    this.cmd = cmd;
    this.code = code;
    this.stdout = stdout;
    this.stderr = stderr;
    this.outcome = outcome;
  }
}

/** Result of {@link run}. */
export interface RunResult {
  code: number;
  stdout: Buffer;
  stderr: Buffer;
  outcome: Outcome;
}

function isName(k: string): boolean {
  return k.length > 0 && !k.includes("=");
}

/** Environment fields of the spawn request that turn the sidecar's env into `target`. */
function envRequest(kennel: Kennel, env: ProcessOptions["env"]): Pick<SpawnOptions, "env" | "envRemove" | "envClear"> {
  if (env === null) return { envClear: true };
  const target: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (typeof v === "string" && isName(k)) target[k] = v;
  if (env !== undefined) {
    for (const [k, v] of Object.entries(env)) {
      if (v === undefined) delete target[k];
      else target[k] = v;
    }
  }
  const base = kennel.env;
  const set: Record<string, string> = {};
  const remove: string[] = [];
  for (const k of Object.keys(base)) if (isName(k) && !(k in target)) remove.push(k);
  for (const [k, v] of Object.entries(target)) if (base[k] !== v) set[k] = v;
  return { env: set, envRemove: remove };
}

function endOf(s: Readable): Promise<void> {
  return new Promise((res) => {
    if (s.readableEnded || s.destroyed) res();
    else s.once("end", res).once("close", res);
  });
}

/** Spawn `cmd[0]` with arguments `cmd.slice(1)` (or the command line `cmd.join(" ")` with `shell`). */
export function spawn(cmd: string[], opts: ProcessOptions = {}): KennelProcess {
  return spawnWith(cmd, opts, "ignore");
}

function spawnWith(cmd: string[], opts: ProcessOptions, outDefault: StdioMode, input?: string | Uint8Array): KennelProcess {
  if (cmd.length === 0 || cmd[0] === "") throw new TypeError("spawn: cmd must be a non-empty array");
  const kennel = opts.kennel ?? getDefaultKennel();
  const stdinMode: StdioMode = input !== undefined ? "pipe" : (opts.stdin ?? "ignore");
  const stdoutMode = opts.stdout ?? outDefault;
  const stderrMode = opts.stderr ?? outDefault;
  const shell = opts.shell !== undefined && opts.shell !== false;
  const child = kennel.spawn(shell ? cmd.join(" ") : cmd[0]!, shell ? [] : cmd.slice(1), {
    cwd: opts.cwd ?? process.cwd(),
    ...envRequest(kennel, opts.env),
    shell: shell ? opts.shell : undefined,
    stdin: stdinMode === "ignore" ? "null" : "pipe",
    stdout: stdoutMode === "ignore" ? "null" : "pipe",
    stderr: stderrMode === "ignore" ? "null" : "pipe",
    signal: opts.kill ?? "SIGTERM",
    graceMs: opts.timeout ?? 5000,
    abortSignal: opts.abort,
  });

  const forwarded: Promise<void>[] = [];
  if (stdoutMode === "inherit") {
    child.stdout.pipe(process.stdout, { end: false });
    forwarded.push(endOf(child.stdout));
  }
  if (stderrMode === "inherit") {
    child.stderr.pipe(process.stderr, { end: false });
    forwarded.push(endOf(child.stderr));
  }
  if (input !== undefined) {
    child.write(input).then(() => child.end()).catch(() => {});
  } else if (stdinMode === "inherit") {
    const stdin = child.stdin!;
    process.stdin.pipe(stdin);
    const detach = () => {
      process.stdin.unpipe(stdin);
      if (process.stdin.listenerCount("data") === 0) process.stdin.pause();
    };
    child.outcome.then(detach, detach);
  }

  const outcome = child.outcome;
  const exited = outcome.then(async (o) => {
    await Promise.all(forwarded);
    return exitStatus(o);
  });
  exited.catch(() => {});

  const proc: KennelProcess = {
    get pid() {
      return child.pid;
    },
    spawned: child.spawned,
    stdin: stdinMode === "pipe" && input === undefined ? child.stdin : null,
    stdout: stdoutMode === "pipe" ? child.stdout : null,
    stderr: stderrMode === "pipe" ? child.stderr : null,
    exited,
    outcome,
    get killed() {
      return child.done;
    },
    child,
    kill(signal: Signal = "SIGTERM") {
      if (child.done) return false;
      const s = typeof signal === "string" ? signal.toUpperCase().replace(/^SIG/, "") : signal;
      const p = s === "KILL" || s === 9 ? child.kill() : child.signal(signal);
      p.catch(() => {});
      return true;
    },
  };
  return proc;
}

async function collect(s: Readable | null): Promise<Buffer> {
  if (s === null) return Buffer.alloc(0);
  const parts: Buffer[] = [];
  for await (const c of s) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

/**
 * Run to completion, collecting stdout and stderr (default `"pipe"`). Rejects with
 * {@link RunFailedError} on a non-zero status unless `nothrow`.
 */
export async function run(cmd: string[], opts: RunOptions = {}): Promise<RunResult> {
  const p = spawnWith(cmd, opts, "pipe", opts.input);
  const [stdout, stderr, code] = await Promise.all([collect(p.stdout), collect(p.stderr), p.exited]);
  const outcome = await p.outcome;
  if (code !== 0 && !opts.nothrow) throw new RunFailedError(cmd, code, stdout, stderr, outcome);
  return { code, stdout, stderr, outcome };
}

/** {@link run}, plus `text`: stdout decoded as UTF-8. */
export async function text(cmd: string[], opts: RunOptions = {}): Promise<RunResult & { text: string }> {
  const r = await run(cmd, opts);
  return { ...r, text: r.stdout.toString("utf8") };
}

/** stdout's non-empty lines (split on `\n`, a trailing `\r` removed). Rejects like {@link run}. */
export async function lines(cmd: string[], opts: RunOptions = {}): Promise<string[]> {
  const r = await text(cmd, opts);
  return r.text
    .split("\n")
    .map((l) => (l.endsWith("\r") ? l.slice(0, -1) : l))
    .filter((l) => l.length > 0);
}

/**
 * Terminate a spawned process's whole tree: SIGTERM, wait up to `graceMs` (500), then
 * SIGKILL — the sidecar's ladder, given for this cancel. Resolves with the exit status
 * once the tree is gone (and its output drained).
 */
export async function stop(proc: KennelProcess, graceMs = 500): Promise<number> {
  const child = proc.child;
  if (!child.done) {
    await child.spawned.catch(() => {});
    await child.cancel({ ladder: [{ signal: "SIGTERM", waitMs: graceMs }] }).catch(() => {});
  }
  return proc.exited.catch(() => 1);
}
