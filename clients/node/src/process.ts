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
import { EventEmitter } from "node:events";
import { execFile } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import type { ChildProcess, Serializable } from "node:child_process";
import type { Readable, Writable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { exitStatus, getDefaultKennel, Kennel, KennelChild, KennelError, type Outcome, type SpawnOptions } from "./index.js";
import { signalName, signalNumber, toSpawnError } from "./errors.js";

export { KennelError, exitStatus, type Outcome, type Signal } from "./index.js";
export { type SpawnErrnoError } from "./errors.js";
export * as Process from "./process.js";

/** Grace between SIGTERM and SIGKILL of {@link stop} and {@link terminateTree} (ms). */
export const TERMINATION_GRACE_MS = 500;

/** What to do with one stdio stream of the child. */
export type Stdio = "inherit" | "pipe" | "ignore";
/** @deprecated alias of {@link Stdio} (kennel 0.1 name). */
export type StdioMode = Stdio;
/** `true`: `/bin/sh` (`cmd.exe` on Windows); a string: that shell. */
export type Shell = boolean | string;

/** How a death by signal N shows in `exited` / `code`. */
export type SignalExit = "shell" | "legacy";

/** Options of {@link spawn}; the first nine are the original helper's. */
export interface Options {
  /** Working directory (default: this process's `process.cwd()` at spawn time). */
  cwd?: string;
  /** Merged over `process.env` (a value `undefined` removes the variable); `null` = empty environment; absent = `process.env`. */
  env?: NodeJS.ProcessEnv | null;
  /** Default `"ignore"`. `"inherit"` pipes `process.stdin` into the child. */
  stdin?: Stdio;
  /** Default `"ignore"` (`"pipe"` for run/text/lines). `"inherit"` forwards to `process.stdout`. */
  stdout?: Stdio;
  /** Default `"ignore"` (`"pipe"` for run/text/lines). `"inherit"` forwards to `process.stderr`. */
  stderr?: Stdio;
  /** `true` or a shell path: `cmd.join(" ")` is run by that shell with `-c`. */
  shell?: Shell;
  /**
   * Aborting it terminates the whole tree: signal `kill`, wait `timeout` ms, SIGKILL.
   * Already aborted: `spawn` throws its reason (an `AbortError`), `run` rejects with it.
   */
  abort?: AbortSignal;
  /** The first signal sent on abort (default `"SIGTERM"`). */
  kill?: NodeJS.Signals | number;
  /** Grace (ms) between `kill` and SIGKILL on abort (default 5000); `<= 0`: send `kill` only, never escalate. */
  timeout?: number;

  // ----- kennel extensions (see README, "Differences") -----

  /** The Kennel to use (default: {@link configure}'s, else the shared {@link getDefaultKennel}). */
  kennel?: Kennel;
  /** `"shell"` (default): a death by signal N is status 128 + N; `"legacy"`: 1, as the original helper. */
  signalExit?: SignalExit;
  /** Leave descendants alive after the leader exits (the original never killed them). Default false. */
  keepLeftovers?: boolean;
  /** How long to wait for the pipes after the tree is gone (ms; default: the sidecar's). */
  drainTimeoutMs?: number;
  /** `kill(sig)` signals the whole tree (default true); false: only the leader, as `ChildProcess.kill`. */
  killTree?: boolean;
}

/** Options of {@link run}, {@link text}, {@link lines}. */
export interface RunOptions extends Options {
  /** Resolve instead of rejecting on a non-zero status or a spawn failure (then code 1, the error's message as stderr). */
  nothrow?: boolean;
  /** Written to the child's stdin, which is then closed (kennel extension; overrides `stdin`). */
  input?: string | Uint8Array;
}

/** Result of {@link run}. */
export interface Result {
  code: number;
  stdout: Buffer;
  stderr: Buffer;
  /** kennel's full report (signal, reason, leftovers, …); absent when `nothrow` swallowed a spawn failure. */
  outcome?: Outcome;
}

/** Result of {@link text}. */
export interface TextResult extends Result {
  text: string;
}

/** Input of {@link terminateTree}. */
export interface TerminateTreeInput {
  pid: number;
  /** Wait between SIGTERM and SIGKILL (default {@link TERMINATION_GRACE_MS}). */
  graceMs?: number;
  /** How to signal the root (default `process.kill(pid, signal)`). */
  signalRoot?: (signal: NodeJS.Signals) => void;
  /** Settles when the root exited: ends the grace early. */
  waitForExit?: Promise<unknown>;
  /** How to list the descendants (default {@link descendants}). */
  findDescendants?: (pid: number) => Promise<number[]>;
}

/** Module-wide defaults of the kennel extensions (so a flag can flip them without touching call sites). */
export interface Defaults {
  kennel?: Kennel;
  signalExit?: SignalExit;
  keepLeftovers?: boolean;
  drainTimeoutMs?: number;
  killTree?: boolean;
}

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

/** Live children by pid, so {@link terminateTree} on one of them uses the sidecar. */
const live = new Map<number, KennelProcess>();

/**
 * A running child: the `ChildProcess` surface (`pid`, `exitCode`, `signalCode`, `killed`,
 * `kill()`, events `spawn`, `exit`, `close`, `error`, …) plus the helper's `exited`, and
 * kennel's `spawned`, `outcome`, `child`.
 */
export class KennelProcess extends EventEmitter implements ChildProcess {
  /** The leader's pid; `undefined` until the `spawn` event (and for a failed spawn). */
  pid: number | undefined = undefined;
  /** Exit code once exited normally, null while running or if killed by a signal; negative errno after a failed spawn. */
  exitCode: number | null = null;
  /** The signal that killed the leader (`"SIGTERM"`), else null. */
  signalCode: NodeJS.Signals | null = null;
  /** True once `kill()` sent a signal (Node's meaning: not "has exited"). */
  killed = false;
  readonly stdin: Writable | null;
  readonly stdout: Readable | null;
  readonly stderr: Readable | null;
  readonly stdio: [Writable | null, Readable | null, Readable | null, undefined, undefined];
  readonly spawnfile: string;
  /** The program and its arguments, like `ChildProcess.spawnargs`. */
  readonly spawnargs: string[];
  /** No IPC channel: always false. */
  readonly connected = false;
  /**
   * Exit status: the code, or for a death by signal N 128 + N (option `signalExit:
   * "legacy"`: 1). Resolves after all output was delivered (and, for `"inherit"`,
   * forwarded). Rejects with the spawn error (`code: "ENOENT"`, …) or a `KennelError`.
   */
  readonly exited: Promise<number>;
  /** Resolves with the pid once spawned; rejects like `exited` if the child could not start. */
  readonly spawned: Promise<number>;
  /** kennel's full report (signal, reason, bytes, leftovers killed, …). */
  readonly outcome: Promise<Outcome>;
  /** The underlying native child. */
  readonly child: KennelChild;
  readonly #killTree: boolean;
  #ended = false;

  /** @internal */
  constructor(child: KennelChild, file: string, args: string[], cwd: string, io: { stdin: Writable | null; stdout: Readable | null; stderr: Readable | null }, forwarded: Promise<void>[], signalExit: SignalExit, killTree: boolean) {
    super();
    this.child = child;
    this.spawnfile = file;
    this.spawnargs = [file, ...args];
    this.stdin = io.stdin;
    this.stdout = io.stdout;
    this.stderr = io.stderr;
    this.stdio = [io.stdin, io.stdout, io.stderr, undefined, undefined];
    this.#killTree = killTree;
    this.outcome = child.outcome;
    child.on("spawn", (pid: number) => {
      this.pid = pid;
      live.set(pid, this);
      this.emit("spawn");
    });
    const mapError = (e: unknown) => {
      throw toSpawnError(e, file, args, cwd);
    };
    const mapped = child.outcome.catch(mapError);
    this.spawned = child.spawned.catch(mapError);
    this.spawned.catch(() => {});
    this.exited = mapped.then(
      async (o) => {
        await Promise.all(forwarded);
        this.#ended = true;
        if (this.pid !== undefined && live.get(this.pid) === this) live.delete(this.pid);
        this.exitCode = o.code;
        this.signalCode = o.code === null && o.signal !== null ? signalName(o.signal) : null;
        this.emit("exit", this.exitCode, this.signalCode);
        this.emit("close", this.exitCode, this.signalCode);
        if (o.code === null && o.signal !== null && signalExit === "legacy") return 1;
        return exitStatus(o);
      },
      (e: unknown) => {
        this.#ended = true;
        if (this.pid !== undefined && live.get(this.pid) === this) live.delete(this.pid);
        const errno = (e as { errno?: unknown }).errno;
        if (typeof errno === "number") this.exitCode = errno;
        // Like the helper (which always listens): never an unhandled 'error' event.
        if (this.listenerCount("error") > 0) this.emit("error", e);
        this.emit("close", this.exitCode, null);
        throw e;
      },
    );
    this.exited.catch(() => {});
  }

  /**
   * Send `signal` (default SIGTERM): to the whole tree (option `killTree: false`: the
   * leader only). SIGKILL uses the forceful rung, which also reaches escaped descendants.
   * Returns true if the signal is sent, false if the child already exited (or never
   * started); `kill(0)` only tells whether it is alive. An unknown signal throws a
   * `TypeError` (`ERR_UNKNOWN_SIGNAL`), as `ChildProcess.kill` does.
   */
  kill(signal: NodeJS.Signals | number = "SIGTERM"): boolean {
    const n = signalNumber(signal);
    if (this.#ended || this.child.done) return false;
    // Node sets `killed` whenever the signal was delivered, signal 0 included.
    if (n === 0) return (this.killed = true);
    if (!this.#killTree) {
      if (this.pid === undefined) {
        void this.child.spawned.then(() => this.#signalLeader(n)).catch(() => {});
      } else if (!this.#signalLeader(n)) {
        return false;
      }
    } else {
      const p = n === signalNumber("SIGKILL") ? this.child.kill() : this.child.signal(n);
      p.catch(() => {});
    }
    this.killed = true;
    return true;
  }

  #signalLeader(n: number): boolean {
    try {
      process.kill(this.pid!, n);
      return true;
    } catch {
      return false;
    }
  }

  /** No IPC channel: throws like `ChildProcess.send` on a closed channel. */
  send(_message: Serializable, ..._rest: unknown[]): boolean {
    const e = new Error("Channel closed") as Error & { code: string };
    e.code = "ERR_IPC_CHANNEL_CLOSED";
    throw e;
  }

  /** No IPC channel: nothing to disconnect. */
  disconnect(): void {}

  /** The shared Kennel keeps the event loop alive only while children run; nothing to do. */
  ref(): void {}

  /** See {@link ref}: a running child keeps the event loop alive (the sidecar reports its exit). */
  unref(): void {}

  /** `using` support: kill the child if it was not killed yet (as `ChildProcess`). */
  [Symbol.dispose](): void {
    if (!this.killed) this.kill();
  }
}

/** The helper's `Child`: what {@link spawn} returns. */
export type Child = KennelProcess;

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

function spawnWith(cmd: string[], opts: Options, outDefault: Stdio, input?: string | Uint8Array): KennelProcess {
  if (cmd.length === 0) throw new Error("Command is required");
  opts.abort?.throwIfAborted();
  const kennel = opts.kennel ?? defaults.kennel ?? getDefaultKennel();
  const stdinMode: Stdio = input !== undefined ? "pipe" : (opts.stdin ?? "ignore");
  const stdoutMode = opts.stdout ?? outDefault;
  const stderrMode = opts.stderr ?? outDefault;
  const shell = opts.shell !== undefined && opts.shell !== false;
  const timeout = opts.timeout ?? 5000;
  const killSignal = opts.kill ?? "SIGTERM";
  const cwd = opts.cwd ?? process.cwd();
  const child = kennel.spawn(shell ? cmd.join(" ") : cmd[0]!, shell ? [] : cmd.slice(1), {
    cwd,
    ...envRequest(kennel, opts.env),
    shell: shell ? opts.shell : undefined,
    stdin: stdinMode === "ignore" ? "null" : "pipe",
    stdout: stdoutMode === "ignore" ? "null" : "pipe",
    stderr: stderrMode === "ignore" ? "null" : "pipe",
    signal: killSignal,
    graceMs: timeout > 0 ? timeout : 5000,
    keepLeftovers: opts.keepLeftovers ?? defaults.keepLeftovers,
    drainTimeoutMs: opts.drainTimeoutMs ?? defaults.drainTimeoutMs,
  });

  if (opts.abort) {
    const signal = opts.abort;
    // timeout > 0: the ladder (kill, wait timeout, SIGKILL) on the whole tree; else only `kill`.
    const onAbort = () => void (timeout > 0 ? child.cancel() : child.signal(killSignal)).catch(() => {});
    signal.addEventListener("abort", onAbort, { once: true });
    const detach = () => signal.removeEventListener("abort", onAbort);
    child.outcome.then(detach, detach);
  }

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

  const [file, args] = invocation(cmd, opts.shell);
  return new KennelProcess(
    child,
    file,
    args,
    cwd,
    {
      stdin: stdinMode === "pipe" && input === undefined ? child.stdin : null,
      stdout: stdoutMode === "pipe" ? child.stdout : null,
      stderr: stderrMode === "pipe" ? child.stderr : null,
    },
    forwarded,
    opts.signalExit ?? defaults.signalExit ?? "shell",
    opts.killTree ?? defaults.killTree ?? true,
  );
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
 * SIGTERM to the tree, up to `graceMs`, then the forceful rung — the sidecar's ladder,
 * given for this cancel (no timer here); resolves when the tree is gone.
 */
async function stopKennel(proc: KennelProcess, graceMs: number): Promise<void> {
  const child = proc.child;
  if (child.done) return;
  await child.spawned.catch(() => {});
  await child.cancel({ ladder: [{ signal: "SIGTERM", waitMs: graceMs }] }).catch(() => {});
  await proc.exited.catch(() => {});
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

/** Whether a process with this pid exists (and may be signalled). */
export function exists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** pid → parent pid of every process (Linux: /proc; other Unix: `ps`). */
async function parentMap(): Promise<Map<number, number>> {
  const map = new Map<number, number>();
  if (process.platform === "linux") {
    for (const name of readdirSync("/proc")) {
      if (!/^\d+$/.test(name)) continue;
      try {
        const stat = readFileSync(`/proc/${name}/stat`, "utf8");
        // Fields after the command name (which may contain spaces and parentheses).
        const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
        map.set(Number(name), Number(rest[1]));
      } catch {
        // Exited while listing.
      }
    }
    return map;
  }
  const out = await new Promise<string>((res) => {
    execFile("ps", ["-A", "-o", "pid=", "-o", "ppid="], (err, stdout) => res(err ? "" : stdout));
  });
  for (const line of out.split("\n")) {
    const [pid, ppid] = line.trim().split(/\s+/).map(Number);
    if (Number.isInteger(pid) && Number.isInteger(ppid)) map.set(pid!, ppid!);
  }
  return map;
}

/** Every descendant of `pid` (children, grandchildren, …) found now; `[]` on Windows. Never rejects. */
export async function descendants(pid: number): Promise<number[]> {
  if (process.platform === "win32") return [];
  const children = new Map<number, number[]>();
  for (const [p, pp] of await parentMap().catch(() => new Map<number, number>())) {
    const list = children.get(pp) ?? [];
    list.push(p);
    children.set(pp, list);
  }
  const seen = new Set<number>();
  const pending = [pid];
  while (pending.length) {
    for (const c of children.get(pending.pop()!) ?? []) {
      if (c <= 0 || c === pid || seen.has(c)) continue;
      seen.add(c);
      pending.push(c);
    }
  }
  return [...seen];
}

function signalPid(pid: number, signal: NodeJS.Signals): boolean {
  try {
    if (exists(pid)) process.kill(pid, signal);
    return true;
  } catch {
    return false;
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    return false;
  }
}

/**
 * Terminate `pid` and its descendants: SIGTERM, wait up to `graceMs` (or until
 * `waitForExit` settles), then SIGKILL to what is left. For a child spawned by this
 * module the sidecar does it (reaching descendants that escaped the process group);
 * for any other pid: its process group if it leads one, else the root (`signalRoot`)
 * and the descendants found at the start. Windows: `taskkill /f /t`.
 */
export async function terminateTree(input: TerminateTreeInput): Promise<void> {
  const graceMs = input.graceMs ?? TERMINATION_GRACE_MS;
  const ours = live.get(input.pid);
  if (ours) return stopKennel(ours, graceMs);
  if (process.platform === "win32") {
    await new Promise<void>((res) => execFile("taskkill", ["/pid", String(input.pid), "/f", "/t"], () => res()));
    return;
  }
  const children = await (input.findDescendants ?? descendants)(input.pid).catch(() => [] as number[]);
  const signalRoot = (signal: NodeJS.Signals) => {
    if (input.signalRoot && exists(input.pid)) {
      try {
        input.signalRoot(signal);
        return;
      } catch {
        // Fall back to the pid.
      }
    }
    signalPid(input.pid, signal);
  };
  const groupSignaled = signalGroup(input.pid, "SIGTERM");
  if (!groupSignaled) {
    signalRoot("SIGTERM");
    for (const c of children) signalPid(c, "SIGTERM");
  }
  const grace = sleep(graceMs).then(() => false);
  const rootExited = await (input.waitForExit ? Promise.race([input.waitForExit.then(() => true, () => true), grace]) : grace);
  if (!exists(input.pid) && children.every((c) => !exists(c))) return;
  if (groupSignaled && !rootExited && exists(input.pid)) signalGroup(input.pid, "SIGKILL");
  else signalRoot("SIGKILL");
  for (const c of children) signalPid(c, "SIGKILL");
  if (input.waitForExit) await Promise.race([input.waitForExit.catch(() => undefined), sleep(graceMs)]);
}
