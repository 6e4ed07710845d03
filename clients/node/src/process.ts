/**
 * `kennel/process`: a drop-in for the `Process` helper of Node coding agents (opencode /
 * PawWork `util/process.ts`): `spawn` / `run` / `text` / `lines` / `stop`, `exists`,
 * `descendants`, `terminateTree`, `TERMINATION_GRACE_MS`, `RunFailedError`, the types
 * `Child`, `Options`, `RunOptions`, `Result`, `TextResult`, `TerminateTreeInput` — with the
 * same signatures and meaning, backed by the kennel sidecar, so an app can switch its
 * helper behind a flag without touching call sites. The Effect variants live in
 * `kennel/process/effect` (optional peer dependency `effect`).
 *
 * Import the namespace (`import { Process } from "kennel/process"`) or the functions.
 * Every deliberate difference from the original is listed, with the option that restores
 * the old behaviour, in the table "Differences" of README.md.
 */
import type { ChildProcess } from "node:child_process";
import type { Readable } from "node:stream";
import { getDefaultKennel, Kennel, KennelChild, type Outcome, type SpawnOptions } from "./index.js";
import { type Child, KennelProcess, type ProcessIo, stopKennel } from "./process-child.js";
import { terminateTree, TERMINATION_GRACE_MS } from "./process-tree.js";
import type { Defaults, Options, Result, RunOptions, Shell, Stdio, TextResult } from "./process-types.js";

export { KennelError, exitStatus, type Outcome, type Signal } from "./index.js";
export { type SpawnErrnoError } from "./errors.js";
export { type Child, KennelProcess } from "./process-child.js";
export { descendants, exists, terminateTree, TERMINATION_GRACE_MS } from "./process-tree.js";
export type { Defaults, Options, Result, RunOptions, Shell, SignalExit, Stdio, StdioMode, TerminateTreeInput, TextResult } from "./process-types.js";
export * as Process from "./process.js";

const defaults: Defaults = {};

/** Set module-wide defaults of the kennel extensions; per-call options win. Returns the previous ones. */
export function configure(d: Defaults): Defaults {
  const prev = { ...defaults };
  Object.assign(defaults, d);
  return prev;
}

/** Rejection of {@link run} for a non-zero status (same `name`, fields and message as the original). */
export class RunFailedError extends Error {
  readonly cmd: string[];
  readonly code: number;
  readonly stdout: Buffer;
  readonly stderr: Buffer;
  /** kennel's report of the run. */
  readonly outcome: Outcome | undefined;
  constructor(cmd: string[], code: number, stdout: Buffer, stderr: Buffer, outcome?: Outcome) {
    const err = stderr.toString().trim();
    super(`Command failed with code ${code}: ${cmd.join(" ")}` + (err ? `\n${err}` : ""));
    this.name = "ProcessRunFailedError";
    this.cmd = [...cmd];
    this.code = code;
    this.stdout = stdout;
    this.stderr = stderr;
    this.outcome = outcome;
  }
}

function isName(k: string): boolean {
  return k.length > 0 && !k.includes("=");
}

/** Environment fields of the spawn request that turn the sidecar's env into `target`. */
function envRequest(kennel: Kennel, env: Options["env"]): Pick<SpawnOptions, "env" | "envRemove" | "envClear"> {
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

/** The program and arguments `child_process` would report (`spawnfile`, `spawnargs`). */
function invocation(cmd: string[], shell: Shell | undefined): [string, string[]] {
  if (shell === undefined || shell === false) return [cmd[0]!, cmd.slice(1)];
  const line = cmd.join(" ");
  if (process.platform === "win32") {
    const sh = typeof shell === "string" ? shell : (process.env["ComSpec"] ?? "cmd.exe");
    return [sh, ["/d", "/s", "/c", `"${line}"`]];
  }
  return [typeof shell === "string" ? shell : "/bin/sh", ["-c", line]];
}

/**
 * Spawn `cmd[0]` with arguments `cmd.slice(1)` (with `shell`: the command line
 * `cmd.join(" ")`). Throws `Error("Command is required")` for an empty `cmd` and the
 * abort reason for an already-aborted `abort`. A spawn failure is reported the
 * `child_process` way: `exited` rejects (and `error` is emitted if listened to) with
 * `code: "ENOENT"` / `"EACCES"`, `errno`, `syscall`, `path`, `spawnargs`.
 */
export function spawn(cmd: string[], opts: Options = {}): Child {
  return spawnWith(cmd, opts, "ignore");
}

/** The three stdio modes of a spawn. */
interface Modes {
  stdin: Stdio;
  stdout: Stdio;
  stderr: Stdio;
}

function spawnWith(cmd: string[], opts: Options, outDefault: Stdio, input?: string | Uint8Array): KennelProcess {
  if (cmd.length === 0) throw new Error("Command is required");
  opts.abort?.throwIfAborted();
  const kennel = opts.kennel ?? defaults.kennel ?? getDefaultKennel();
  const modes: Modes = { stdin: input !== undefined ? "pipe" : (opts.stdin ?? "ignore"), stdout: opts.stdout ?? outDefault, stderr: opts.stderr ?? outDefault };
  const shell = opts.shell !== undefined && opts.shell !== false;
  const cwd = opts.cwd ?? process.cwd();
  const child = kennel.spawn(shell ? cmd.join(" ") : cmd[0]!, shell ? [] : cmd.slice(1), spawnOptions(kennel, opts, modes, cwd));
  if (opts.abort) onAbort(child, opts.abort, opts);
  const forwarded = connectStdio(child, modes, input);
  const [file, args] = invocation(cmd, opts.shell);
  const io: ProcessIo = {
    stdin: modes.stdin === "pipe" && input === undefined ? child.stdin : null,
    stdout: modes.stdout === "pipe" ? child.stdout : null,
    stderr: modes.stderr === "pipe" ? child.stderr : null,
  };
  const signalExit = opts.signalExit ?? defaults.signalExit ?? "shell";
  return new KennelProcess(child, file, args, cwd, io, forwarded, signalExit, opts.killTree ?? defaults.killTree ?? true);
}

/** Whether aborting runs the ladder (`kill`, wait `timeout`, SIGKILL), not `kill` alone. */
function escalates(opts: Options): boolean {
  return opts.timeout === undefined || opts.timeout > 0;
}

/**
 * The native spawn options. The ladder is `kill` (default: the sidecar's, SIGTERM), then
 * `timeout` ms (default, and when `timeout <= 0`: the sidecar's grace), then SIGKILL.
 */
function spawnOptions(kennel: Kennel, opts: Options, modes: Modes, cwd: string): SpawnOptions {
  const shell = opts.shell !== undefined && opts.shell !== false;
  return {
    cwd,
    ...envRequest(kennel, opts.env),
    shell: shell ? opts.shell : undefined,
    stdin: modes.stdin === "ignore" ? "null" : "pipe",
    stdout: modes.stdout === "ignore" ? "null" : "pipe",
    stderr: modes.stderr === "ignore" ? "null" : "pipe",
    signal: opts.kill,
    graceMs: escalates(opts) ? opts.timeout : undefined,
    keepLeftovers: opts.keepLeftovers ?? defaults.keepLeftovers,
    drainTimeoutMs: opts.drainTimeoutMs ?? defaults.drainTimeoutMs,
    limits: opts.limits,
  };
}

/** Aborting `signal` runs the ladder on the whole tree (`timeout <= 0`: sends `kill` only). */
function onAbort(child: KennelChild, signal: AbortSignal, opts: Options): void {
  const abort = () => void (escalates(opts) ? child.cancel() : child.signal(opts.kill ?? "SIGTERM")).catch(() => {});
  signal.addEventListener("abort", abort, { once: true });
  const detach = () => signal.removeEventListener("abort", abort);
  child.outcome.then(detach, detach);
}

/** Forwards `"inherit"` streams and writes `input`; returns the forwardings to wait for. */
function connectStdio(child: KennelChild, modes: Modes, input: string | Uint8Array | undefined): Promise<void>[] {
  const forwarded: Promise<void>[] = [];
  if (modes.stdout === "inherit") {
    child.stdout.pipe(process.stdout, { end: false });
    forwarded.push(endOf(child.stdout));
  }
  if (modes.stderr === "inherit") {
    child.stderr.pipe(process.stderr, { end: false });
    forwarded.push(endOf(child.stderr));
  }
  if (input !== undefined) {
    child.write(input).then(() => child.end()).catch(() => {});
  } else if (modes.stdin === "inherit") {
    const stdin = child.stdin!;
    process.stdin.pipe(stdin);
    const detach = () => {
      process.stdin.unpipe(stdin);
      if (process.stdin.listenerCount("data") === 0) process.stdin.pause();
    };
    child.outcome.then(detach, detach);
  }
  return forwarded;
}

async function collect(s: Readable | null): Promise<Buffer> {
  if (s === null) return Buffer.alloc(0);
  const parts: Buffer[] = [];
  for await (const c of s) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

/** The message of an error, as the helper puts it in `stderr` for `nothrow`. */
function errorMessage(e: unknown): string {
  if (e instanceof Error) return e.message || e.name;
  if (typeof e === "object" && e !== null && typeof (e as { message?: unknown }).message === "string") return (e as { message: string }).message;
  return String(e);
}

/**
 * Run to completion, collecting stdout and stderr. Rejects with {@link RunFailedError} on
 * a non-zero status, and with the spawn error (`code: "ENOENT"`, …) if the program could
 * not start — unless `nothrow`: then a spawn failure resolves `{ code: 1, stdout: empty,
 * stderr: the error's message }`, as the original does. An already-aborted `abort`
 * rejects with its reason even with `nothrow` (as the original).
 */
export async function run(cmd: string[], opts: RunOptions = {}): Promise<Result> {
  const p = spawnWith(cmd, opts, "pipe", opts.input);
  let out: Result;
  try {
    const [code, stdout, stderr] = await Promise.all([p.exited, collect(p.stdout), collect(p.stderr)]);
    out = { code, stdout, stderr, outcome: await p.outcome };
  } catch (err) {
    if (!opts.nothrow) throw err;
    return { code: 1, stdout: Buffer.alloc(0), stderr: Buffer.from(errorMessage(err)) };
  }
  if (out.code === 0 || opts.nothrow) return out;
  throw new RunFailedError(cmd, out.code, out.stdout, out.stderr, out.outcome);
}

/** {@link run}, plus `text`: stdout decoded as UTF-8. */
export async function text(cmd: string[], opts: RunOptions = {}): Promise<TextResult> {
  const r = await run(cmd, opts);
  return { ...r, text: r.stdout.toString() };
}

/** stdout's non-empty lines (split on `\n` or `\r\n`). Rejects like {@link run}. */
export async function lines(cmd: string[], opts: RunOptions = {}): Promise<string[]> {
  return (await text(cmd, opts)).text.split(/\r?\n/).filter(Boolean);
}

/**
 * Terminate what {@link spawn} returned, with its whole tree: SIGTERM, up to `graceMs`
 * ({@link TERMINATION_GRACE_MS}), then SIGKILL. Resolves once the tree is gone and its
 * output drained, with its exit status (undefined if it never started). A plain
 * `ChildProcess` is handled as the original does (through {@link terminateTree}).
 */
export async function stop(proc: Child | ChildProcess, graceMs = TERMINATION_GRACE_MS): Promise<number | undefined> {
  if (proc instanceof KennelProcess) {
    await stopKennel(proc, graceMs);
    return proc.exited.catch(() => undefined);
  }
  if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode ?? undefined;
  if (!proc.pid) {
    proc.kill();
    return undefined;
  }
  const waitForExit = new Promise<void>((resolve) => {
    const done = () => {
      proc.off("exit", done);
      proc.off("error", done);
      resolve();
    };
    proc.once("exit", done);
    proc.once("error", done);
  });
  await terminateTree({ pid: proc.pid, graceMs, signalRoot: (s) => proc.kill(s), waitForExit });
  return proc.exitCode ?? undefined;
}
