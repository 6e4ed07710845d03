/** {@link KennelChild}: one child of a sidecar, its streams and the requests on it. */
import { EventEmitter } from "node:events";
import { Readable, Writable } from "node:stream";
import { KennelError } from "./errors.js";
import type { Kennel } from "./kennel.js";
import type { CancelRequest, WriteRequest } from "./protocol.js";
import type { CancelOptions, Outcome, RunResult, Signal } from "./types.js";
import { budgetOf, ChildStdin, type StdinPart } from "./stdin.js";
import { deferred, toBuffer, wireLadder, WRITE_CHUNK_BYTES, type Deferred } from "./wire.js";

/**
 * A child process supervised by the sidecar. Created by {@link Kennel.spawn}.
 *
 * `stdout`/`stderr` are byte-exact `Readable` streams (Buffers). `outcome` resolves with
 * the `exit` event after every byte was delivered to the streams, and rejects with a
 * {@link KennelError} if the spawn failed or the sidecar died.
 */
export class KennelChild extends EventEmitter {
  /** The request id naming this child in the protocol (unique per Kennel). */
  readonly id: string;
  /** The leader's pid, once `spawned` arrived. */
  pid: number | undefined = undefined;
  /** Containment tier in effect, once `spawned` arrived. */
  containment: string | undefined = undefined;
  /** Resolves with the pid on `spawned`; rejects on a spawn error. */
  readonly spawned: Promise<number>;
  /** Resolves with the `exit` event (after all output); rejects on spawn error / sidecar death. */
  readonly outcome: Promise<Outcome>;
  /** The child's stdout (ends before `outcome` resolves). */
  readonly stdout: Readable;
  /** The child's stderr (ends before `outcome` resolves). */
  readonly stderr: Readable;
  /** A Writable over {@link write}/{@link end}; null unless `stdin: "pipe"`. */
  readonly stdin: Writable | null;
  /** True once `exit` arrived (or the child failed). */
  done = false;
  /**
   * @internal The sidecar sent `exit`. `done` follows once the child's direct streams
   * (if any) are drained; an `unknown_id` in between still answers a request that raced
   * the exit.
   */
  _exited = false;

  /** @internal */
  readonly _spawned = deferred<number>();
  /** @internal */
  readonly _outcome = deferred<Outcome>();
  /** @internal */
  readonly _writes: Deferred<void>[] = [];
  /** @internal */
  _stdinEnded = false;
  readonly #kennel: Kennel;
  /** Paces this child's `write` parts; made at the first write. */
  #stdinParts: ChildStdin | undefined;

  /** @internal */
  constructor(kennel: Kennel, id: string, stdinPiped: boolean) {
    super();
    this.#kennel = kennel;
    this.id = id;
    this.spawned = this._spawned.promise;
    this.outcome = this._outcome.promise;
    this.stdout = kennel._makeOutStream(id, "stdout");
    this.stderr = kennel._makeOutStream(id, "stderr");
    this.stdin = stdinPiped ? this.#makeStdin() : null;
  }

  #makeStdin(): Writable {
    // Like writing to a pipe whose reader is gone, minus the EPIPE crash: once the child
    // closed its stdin or exited, the stream is destroyed without an error (as Node
    // destroys `child.stdin` at the child's exit), so a source piped into it is unpiped
    // instead of being pumped forever into a stream that discards everything.
    const swallow = (e: unknown, cb: (e?: Error | null) => void) => {
      if (e instanceof KennelError && (e.code === "stdin_closed" || e.code === "child_exited")) {
        cb();
        stdin.destroy();
      } else cb(e as Error);
    };
    const stdin: Writable = new Writable({
      write: (chunk: Buffer, _enc, cb) => {
        this.write(chunk).then(() => cb(), (e) => swallow(e, cb));
      },
      writev: (chunks, cb) => {
        this.write(Buffer.concat(chunks.map((c) => c.chunk as Buffer))).then(() => cb(), (e) => swallow(e, cb));
      },
      final: (cb) => {
        this.end().then(() => cb(), (e) => swallow(e, cb));
      },
      // Destroying it closes the child's stdin, as destroying `child.stdin` closes the
      // pipe in Node: a child reading to EOF ends instead of waiting forever
      // (sindresorhus/execa#786). Writes already accepted still go first.
      destroy: (err, cb) => {
        this.end().catch(() => {});
        cb(err);
      },
    });
    const gone = () => stdin.destroy();
    this._outcome.promise.then(gone, gone);
    return stdin;
  }

  /**
   * Write to the child's stdin (`stdin: "pipe"`). Resolves on `written` (every byte is in
   * the child's stdin pipe). Payloads above 512 KiB are split into several `write`s; parts
   * beyond the sidecar's stdin queue bound wait here, in order, until earlier ones were
   * written (src/stdin.ts), so a large write to a child that reads slowly is never refused.
   * Bytes are read when their part is sent, as Node's streams do: do not change a buffer
   * until its write resolved.
   */
  write(data: string | Uint8Array): Promise<void> {
    if (this.done || this._stdinEnded) {
      const [code, why] = this.done ? (["child_exited", "has exited"] as const) : (["stdin_closed", "had its stdin closed by end()"] as const);
      return Promise.reject(new KennelError(code, `child ${this.id} ${why}; cannot write to its stdin`, { id: this.id, op: "write" }));
    }
    const buf = typeof data === "string" && data.length <= 65536 ? null : toBuffer(data);
    const part = (req: () => WriteRequest, bytes: number): StdinPart => ({ req, bytes, done: deferred<void>() });
    const parts: StdinPart[] = [];
    if (buf === null) {
      const text = data as string;
      parts.push(part(() => ({ op: "write", id: this.id, data: text }), Buffer.byteLength(text)));
    } else if (buf.length === 0) {
      parts.push(part(() => ({ op: "write", id: this.id, data: "" }), 0));
    } else {
      // A string was encoded once into `buf`; bytes the caller passed are viewed, not
      // copied. Each part's base64 is made when it is sent.
      for (let off = 0; off < buf.length; off += WRITE_CHUNK_BYTES) {
        const slice = buf.subarray(off, off + WRITE_CHUNK_BYTES);
        parts.push(part(() => ({ op: "write", id: this.id, data_b64: slice.toString("base64") }), slice.length));
      }
    }
    this.#kennel._busy(parts.length);
    this.#stdinParts ??= new ChildStdin(budgetOf(this.#kennel), (p) => this.#sendPart(p));
    this.#stdinParts.push(parts);
    return Promise.all(parts.map((p) => p.done.promise)).then(() => undefined);
  }

  /** Sends one part now (called by {@link ChildStdin} when the sidecar must accept it). */
  #sendPart(p: StdinPart): void {
    try {
      this.#kennel._sendWrite(p.req(), p.done);
    } catch (e) {
      this.#kennel._busy(-1);
      throw e;
    }
    this._writes.push(p.done);
  }

  /** Close the child's stdin after pending writes (the child sees EOF). */
  end(): Promise<void> {
    if (this._stdinEnded || this.done) return Promise.resolve();
    this._stdinEnded = true;
    const close = () => (this.done ? Promise.resolve() : this.#kennel._answeredOp({ op: "close_stdin", id: this.id }, this.id));
    const parts = this.#stdinParts;
    return parts === undefined || parts.idle ? close() : parts.allSent().then(close);
  }

  /** Send one signal to the child's whole tree (no ladder). No-op after exit. */
  signal(sig: Signal): Promise<void> {
    if (this.done) return Promise.resolve();
    if (this.pid === undefined) return this.#afterSpawned(() => this.signal(sig));
    return this.#kennel._answeredOp({ op: "signal", id: this.id, signal: sig }, this.id);
  }

  /**
   * Run the ladder on the whole tree (`reason: "cancelled"`): the spawn's, or
   * `opts.ladder`; again: jump to the forceful rung. Resolves once the sidecar started it
   * (the tree's end is `outcome`). No-op after exit.
   */
  cancel(opts: CancelOptions = {}): Promise<void> {
    if (this.done) return Promise.resolve();
    if (this.pid === undefined) return this.#afterSpawned(() => this.cancel(opts));
    const req: CancelRequest = { op: "cancel", id: this.id };
    if (opts.ladder !== undefined && this.#kennel.hello?.features.includes("cancel_ladder")) {
      req.ladder = wireLadder(opts.ladder);
    }
    return this.#kennel._answeredOp(req, this.id);
  }

  /**
   * Signals (not the forceful kill) are sent only once `spawned` arrived, so a signal
   * never races the spawn's own error reply. (The loss this once guarded against — a
   * keeper-tier signal dropped right after spawn — is fixed in the library and tested in
   * `unix_containment/early_signal.rs`.)
   */
  #afterSpawned(f: () => Promise<void>): Promise<void> {
    return this.spawned.then(f, () => undefined);
  }

  /** @internal Rejects the pending stdin writes (`err`, else `child_exited`); returns how many. */
  _failWrites(err: KennelError | undefined): number {
    const unsent = this.#stdinParts?.takeUnsent() ?? [];
    if (this._writes.length === 0 && unsent.length === 0) return 0;
    const writes = [...this._writes.splice(0), ...unsent.map((p) => p.done)];
    for (const d of writes) {
      d.reject(err ?? new KennelError("child_exited", `child ${this.id} exited before its stdin write completed`, { id: this.id, op: "write" }));
    }
    return writes.length;
  }

  /** The forceful rung at once on the whole tree (`reason: "killed"`). No-op after exit. */
  kill(): Promise<void> {
    if (this.done) return Promise.resolve();
    return this.#kennel._answeredOp({ op: "kill", id: this.id }, this.id);
  }
}

/**
 * Collects a child's output into Buffers, writing `input` to its stdin (then closing
 * it); resolves once it exited and both streams ended, whatever the exit code.
 */
export async function runChild(child: KennelChild, input: string | Uint8Array | undefined): Promise<RunResult> {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on("data", (c: Buffer) => out.push(c));
  child.stderr.on("data", (c: Buffer) => err.push(c));
  const ended = (s: Readable) => new Promise<void>((res) => (s.readableEnded ? res() : s.once("end", res).once("close", res)));
  if (input !== undefined) {
    child.write(input).then(() => child.end()).catch(() => {});
  } else if (child.stdin !== null) {
    child.end().catch(() => {});
  }
  const outcome = await child.outcome;
  await Promise.all([ended(child.stdout), ended(child.stderr)]);
  return { stdout: Buffer.concat(out), stderr: Buffer.concat(err), outcome };
}
