/**
 * Direct output streams (docs/PROTOCOL.md, "Direct streams"): the child writes into a
 * FIFO that this client reads itself, through a libuv pipe (`net.Socket` on the FIFO's
 * descriptor, the same reads as `child_process`), so the sidecar is not in the data
 * path. The sidecar holds the FIFO open until `attach`, so nothing written before the
 * client opened it is lost.
 */
import { constants, openSync } from "node:fs";
import { Socket } from "node:net";
import type { Readable } from "node:stream";

/** The sidecar's default drain timeout (`kennel serve --drain-timeout`). */
export const DEFAULT_DRAIN_TIMEOUT_MS = 1000;

/** Reads one direct stream's FIFO into the child's `Readable`. */
export class DirectReader {
  /** Resolves once the FIFO is closed: EOF (the tree's last writer is gone), an error, or the consumer destroyed the stream. */
  readonly closed: Promise<void>;
  readonly #socket: Socket | null;
  /** The child exited: read what is left whatever the consumer's pace (it is bounded: nothing writes any more). */
  #draining = false;

  /** Opens the FIFO at `path` (non-blocking: never waits for a writer) and feeds `s` from it. */
  constructor(path: string, s: Readable) {
    let fd: number;
    try {
      fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
    } catch (e) {
      s.destroy(e as Error);
      this.#socket = null;
      this.closed = Promise.resolve();
      return;
    }
    const socket = (this.#socket = new Socket({ fd, readable: true, writable: false }));
    this.closed = new Promise((resolve) => socket.once("close", () => resolve()));
    socket.on("data", (chunk: Buffer) => {
      if (s.destroyed) return;
      // Backpressure is the pipe itself: a paused socket leaves the FIFO full, and the
      // child (only it) blocks in its own write.
      if (!s.push(chunk) && !this.#draining) socket.pause();
    });
    socket.on("end", () => {
      if (!s.destroyed) s.push(null);
    });
    socket.on("error", (e) => s.destroy(e));
    s._read = () => {
      socket.resume();
    };
    // Nobody will read any more: close the FIFO (the tree's next write gets EPIPE, as
    // with a pipe whose reader is gone).
    s.once("close", () => socket.destroy());
  }

  /**
   * The child's `exit` arrived: read the rest regardless of the consumer's pace, and
   * resolve `true` on EOF, or `false` after `ms` (a writer that escaped the tree's
   * teardown holds the FIFO: it is closed, as the sidecar's drain timeout closes a pipe).
   */
  async drain(ms: number): Promise<boolean> {
    const socket = this.#socket;
    if (socket === null || socket.destroyed) return true;
    this.#draining = true;
    socket.resume();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), ms);
    });
    const drained = await Promise.race([this.closed.then(() => true), timedOut]);
    clearTimeout(timer);
    if (!drained) socket.destroy();
    return drained;
  }
}

/** Waits for every direct stream of an exited child; `false` if one timed out. */
export async function drainAll(readers: DirectReader[], ms: number): Promise<boolean> {
  const results = await Promise.all(readers.map((r) => r.drain(ms)));
  return results.every((r) => r);
}

/** The direct streams of one child. */
export class DirectStreams {
  readonly #readers: DirectReader[] = [];
  readonly #drainMs: number;

  /** `drainMs`: the child's drain timeout (the spawn's `drainTimeoutMs`, else the sidecar's default). */
  constructor(drainMs: number | undefined) {
    this.#drainMs = drainMs ?? DEFAULT_DRAIN_TIMEOUT_MS;
  }

  /** On `spawned`: opens the FIFOs it names into the child's streams. True if there are any (then send `attach`). */
  open(ev: Record<string, unknown>, child: { stdout: Readable; stderr: Readable }): boolean {
    for (const stream of ["stdout", "stderr"] as const) {
      const path = ev[`${stream}_fifo`];
      if (typeof path === "string") this.#readers.push(new DirectReader(path, child[stream]));
    }
    return this.#readers.length > 0;
  }

  /**
   * On `exit`: `done(outcome)` once every direct stream reached EOF, so `exit` still
   * comes after all output; a stream still held open after the drain timeout is closed
   * and the outcome says `drain: "timeout"`.
   */
  finish<O extends { drain: string }>(outcome: O, done: (outcome: O) => void): void {
    if (this.#readers.length === 0) return done(outcome);
    void drainAll(this.#readers, this.#drainMs).then((drained) => done(drained ? outcome : { ...outcome, drain: "timeout" }));
  }
}
