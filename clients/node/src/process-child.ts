/** {@link KennelProcess}: a kennel child with the `ChildProcess` surface. */
import { EventEmitter } from "node:events";
import type { ChildProcess, Serializable } from "node:child_process";
import type { Readable, Writable } from "node:stream";
import { signalName, signalNumber, toSpawnError } from "./errors.js";
import { exitStatus, type KennelChild, type Outcome } from "./index.js";
import type { SignalExit } from "./process-types.js";

/** The streams a {@link KennelProcess} exposes (null where not piped). */
export interface ProcessIo {
  stdin: Writable | null;
  stdout: Readable | null;
  stderr: Readable | null;
}

/** Live children by pid, so {@link terminateTree} on one of them uses the sidecar. */
export const live = new Map<number, KennelProcess>();

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
  constructor(child: KennelChild, file: string, args: string[], cwd: string, io: ProcessIo, forwarded: Promise<void>[], signalExit: SignalExit, killTree: boolean) {
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
 * SIGTERM to the tree, up to `graceMs`, then the forceful rung — the sidecar's ladder,
 * given for this cancel (no timer here); resolves when the tree is gone.
 */
export async function stopKennel(proc: KennelProcess, graceMs: number): Promise<void> {
  const child = proc.child;
  if (child.done) return;
  await child.spawned.catch(() => {});
  await child.cancel({ ladder: [{ signal: "SIGTERM", waitMs: graceMs }] }).catch(() => {});
  await proc.exited.catch(() => {});
}
