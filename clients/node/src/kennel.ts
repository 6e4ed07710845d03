/** {@link Kennel}: one `kennel serve` sidecar and the children multiplexed over it. */
import type { ChildProcess } from "node:child_process";
import { EventEmitter } from "node:events";
import type { Readable } from "node:stream";
import { randomBytes } from "node:crypto";
import { Answers, type AnsweredRequest } from "./answers.js";
import { KennelChild, runChild } from "./child.js";
import { DirectServer, DirectStreams } from "./direct.js";
import { KennelError } from "./errors.js";
import { Flows } from "./flow.js";
import { FrameParser } from "./frames.js";
import { locateKennelBin } from "./locate.js";
import type { Request, WriteRequest } from "./protocol.js";
import { exitError, protocolMismatch, refSidecar, sidecarEnv, startSidecar, windowOption } from "./sidecar.js";
import type { Hello, KennelStartOptions, ListedChild, Outcome, RunOptions, RunResult, SpawnOptions } from "./types.js";
import { DEFAULT_MAX_LINE_BYTES, deferred, lineTooLong, negotiate, num, parseEvent, payload, PROTOCOL_VERSION, spawnRequest, str, toHello, toListed, toOutcome } from "./wire.js";
import type { Deferred, Json } from "./wire.js";

interface ChildState {
  child: KennelChild;
  cleanup: (() => void)[];
  direct: DirectStreams;
}

/**
 * Owns one `kennel serve` sidecar process. Create with {@link Kennel.start} (waits for
 * `hello`) or {@link Kennel.create} (usable at once; requests are queued until `hello`).
 *
 * The sidecar is never restarted: if it dies, every pending operation rejects with a
 * `sidecar_exited` {@link KennelError} and later calls throw it.
 *
 * While no child is running the sidecar does not keep the Node event loop alive.
 *
 * Events: `protocolError` (an `error` event the client could not attribute to a request),
 * `exit` (the sidecar process ended).
 */
export class Kennel extends EventEmitter {
  /** Resolves with `hello`; rejects if the sidecar could not start. */
  readonly ready: Promise<Hello>;
  /** `hello`, once received. */
  hello: Hello | undefined = undefined;
  /** The environment the sidecar (and so every child by default) inherited. */
  readonly env: Readonly<Record<string, string>>;

  readonly #proc: ChildProcess;
  readonly #ready = deferred<Hello>();
  readonly #closed = deferred<void>();
  readonly #children = new Map<string, ChildState>();
  /** Requests sent before `hello`, serialized when it arrives. */
  readonly #queue: Request[] = [];
  readonly #framing: "auto" | "json";
  readonly #idPrefix = randomBytes(4).toString("hex");
  readonly #direct = new DirectServer((id, stream) => this._answeredOp({ op: "eof", id, stream }, id).catch(() => {}));
  /** The window asked for each stream, or undefined for the sidecar's recommendation. */
  readonly #windowOpt: number | undefined;
  /** Requests waiting for their answer. */
  readonly #answers = new Answers(
    (n) => this.#busy(n),
    (id) => this.#children.get(id)?.child,
    (req) => this.#send(req),
  );
  /** Flow-control state of every live output stream. */
  readonly #flows = new Flows(
    (req) => this.#proc.stdin!.write(JSON.stringify(req) + "\n"),
    () => !this.#failure && !this.#closing,
  );
  readonly #parser = new FrameParser(
    {
      line: (line) => this.#onLine(line),
      target: (stream, id) => this.#outStream(id, stream === 1 ? "stdout" : "stderr"),
      payload: (s, bytes) => this.#flows.push(s, bytes),
      corrupt: (what) => {
        this.#fail(new KennelError("invalid_event", `kennel sidecar sent ${what}; its output cannot be followed any more`));
        this.#proc.stdin!.end();
      },
    },
    () => this.hello?.maxFrameBytes ?? 0,
  );
  #nextId = 0;
  #failure: KennelError | undefined = undefined;
  #closing = false;
  #bye = false;
  #busyCount = 0;
  #refd = true;

  private constructor(opts: KennelStartOptions) {
    super();
    const bin = locateKennelBin(opts.bin);
    this.#windowOpt = windowOption(opts);
    this.#framing = opts.framing ?? "auto";
    this.env = sidecarEnv(opts);
    this.ready = this.#ready.promise;
    this.#proc = startSidecar(bin, opts, this.env, this.ready, {
      data: (c) => this.#parser.push(c),
      failed: (e) => this.#fail(e),
      closed: (code, signal, tail) => {
        this.#fail(exitError(code, signal, this.#bye, this.#children.size > 0, tail));
        this.#direct.close();
        this.#closed.resolve();
        this.emit("exit", code, signal);
      },
    });
  }

  /** Start a sidecar and wait for its `hello`. */
  static async start(opts: KennelStartOptions = {}): Promise<Kennel> {
    const k = new Kennel(opts);
    await k.ready;
    return k;
  }

  /** Start a sidecar without waiting: requests are queued until `hello`. Throws `bin_not_found` synchronously. */
  static create(opts: KennelStartOptions = {}): Kennel {
    return new Kennel(opts);
  }

  /** The sidecar's pid. */
  get sidecarPid(): number | undefined {
    return this.#proc.pid;
  }

  /** The error that ended this Kennel, if any. */
  get failure(): KennelError | undefined {
    return this.#failure;
  }

  /**
   * Spawn a child. Returns at once; `child.spawned` resolves with the pid. Throws if the
   * Kennel is closed or its sidecar died; spawn errors (`spawn_failed`, …) reject
   * `spawned` and `outcome`.
   */
  spawn(cmd: string, args: string[] = [], opts: SpawnOptions = {}): KennelChild {
    this.#throwIfDead();
    const id = `c${this.#idPrefix}-${++this.#nextId}`;
    const req = spawnRequest(id, cmd, args, opts);
    // Before `hello` framing and flow control are unknown: #onHello adds them.
    if (this.hello) negotiate(req, this.hello, this.#framing, this.#windowOpt);
    // Sent first, so the sidecar spawns while the objects are made (unless a direct stream's token goes in).
    const early = this.hello !== undefined && req.stdout !== "direct" && req.stderr !== "direct";
    if (early) this.#send(req);
    const child = new KennelChild(this, id, opts.stdin === "pipe");
    const state: ChildState = { child, cleanup: [], direct: new DirectStreams(opts.drainTimeoutMs) };
    for (const s of ["stdout", "stderr"] as const) if (opts[s] === "null") child[s].push(null);
    if (this.hello) this.#direct.wire(req, state);
    if (!early) this.#send(req); // throws line_too_long before anything is registered
    this.#children.set(id, state);
    this.#flows.start([child.stdout, child.stderr], req.window ?? undefined);
    this.#busy(1);
    const abort = opts.abortSignal;
    if (abort) {
      const onAbort = () => void child.cancel().catch(() => {});
      if (abort.aborted) onAbort();
      else {
        abort.addEventListener("abort", onAbort, { once: true });
        state.cleanup.push(() => abort.removeEventListener("abort", onAbort));
      }
    }
    return child;
  }

  /**
   * Spawn a child and collect its output into Buffers. Resolves when it exited, whatever
   * the exit code; rejects like `outcome`.
   */
  async run(cmd: string, args: string[] = [], opts: RunOptions = {}): Promise<RunResult> {
    const { input, ...rest } = opts;
    if (input !== undefined) rest.stdin = "pipe";
    return runChild(this.spawn(cmd, args, rest), input);
  }

  /** The sidecar's children (`list`). */
  async list(): Promise<ListedChild[]> {
    this.#throwIfDead();
    const id = `l${this.#idPrefix}-${++this.#nextId}`;
    const d = deferred<void>();
    const result: ListedChild[] = [];
    const onList = (ev: Json) => result.push(...toListed(ev));
    this.#send({ op: "list", id });
    this.#answers.barrier(id, { childId: undefined, op: "list", done: d, onList });
    this.#busy(1);
    return d.promise.then(() => result);
  }

  /**
   * End the sidecar: EOF on its stdin (every running child's ladder runs, `reason:
   * "supervisor_shutdown"`), then wait for `bye` and its exit. Idempotent.
   */
  async close(): Promise<void> {
    if (!this.#closing) {
      this.#closing = true;
      this.#updateRef();
      if (this.#queue.length > 0 && !this.hello) {
        // Let queued requests go out once hello arrives, then EOF.
        await this.ready.catch(() => {});
      }
      this.#proc.stdin!.end();
    }
    await this.#closed.promise;
  }

  // ----- internal, used by KennelChild -----

  /** @internal */
  _send(req: Request): void {
    this.#send(req);
  }

  /** @internal */
  _busy(n: number): void {
    this.#busy(n);
  }

  /** @internal Send a `write` part; its answer settles `d` (by `req` tag when the sidecar offers them). */
  _sendWrite(req: WriteRequest, d: Deferred<void>): void {
    if (this.hello?.features.includes("req")) {
      const tag = `w${++this.#nextId}`;
      this.#send({ ...req, req: tag });
      this.#answers.tagged(tag, req.id, "write", d);
    } else {
      this.#send(req);
    }
  }

  /**
   * @internal A request on a child answered by an event naming it (`ack` or `error`
   * with its `req` tag); with sidecars older than `req` tags, by the `list` barrier.
   */
  _answeredOp(req: AnsweredRequest, childId: string): Promise<void> {
    if (!this.hello) return this.ready.then(() => this._answeredOp(req, childId));
    if (!this.hello.features.includes("req")) return this._barrierOp(req, childId);
    const tag = `r${++this.#nextId}`;
    return this.#whileAlive(() => this.#answers.request(req, childId, tag));
  }

  /** @internal */
  _barrierOp(req: AnsweredRequest, childId: string): Promise<void> {
    return this.#whileAlive(() => this.#answers.request(req, childId, undefined, `b${this.#idPrefix}-${++this.#nextId}`));
  }

  /** @internal A child's output stream; credit is returned as its consumer reads. */
  _makeOutStream(childId: string, stream: "stdout" | "stderr"): Readable {
    return this.#flows.stream(childId, stream);
  }

  // ----- private -----

  #throwIfDead(): void {
    if (this.#failure) throw this.#failure;
    if (this.#closing) throw new KennelError("closed", "this Kennel is closed");
  }

  /** `f()`, or a rejection if this Kennel is closed or dead. */
  #whileAlive(f: () => Promise<void>): Promise<void> {
    try {
      this.#throwIfDead();
    } catch (e) {
      return Promise.reject(e);
    }
    return f();
  }

  /** Child `id`'s output stream if it is still open. */
  #outStream(id: string, stream: "stdout" | "stderr"): Readable | null {
    const st = this.#children.get(id);
    const s = st ? st.child[stream] : null;
    return s && !s.readableEnded ? s : null;
  }

  #send(req: Request): void {
    if (this.#failure) throw this.#failure;
    const line = JSON.stringify(req);
    const max = this.hello?.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
    if (line.length * 3 > max /* ≤ 3 UTF-8 bytes per UTF-16 unit */ && Buffer.byteLength(line, "utf8") > max) throw lineTooLong(req, Buffer.byteLength(line), max);
    if (this.hello) this.#proc.stdin!.write(line + "\n");
    else this.#queue.push(req);
  }

  #busy(n: number): void {
    this.#busyCount += n;
    this.#updateRef();
  }

  /** Keep the event loop alive only while something is pending. */
  #updateRef(): void {
    const want = this.#busyCount > 0 || this.#closing || (!this.hello && !this.#failure);
    if (want === this.#refd) return;
    this.#refd = want;
    refSidecar(this.#proc, want);
  }

  #onLine(line: Buffer): void {
    const ev = parseEvent(line);
    if (ev instanceof KennelError) this.emit("protocolError", ev);
    else this.#onEvent(ev, str(ev, "id"));
  }

  #onEvent(ev: Json, id: string | undefined): void {
    const st = id !== undefined ? this.#children.get(id) : undefined;
    switch (ev["event"]) {
      case "hello":
        return this.#onHello(ev);
      case "spawned":
        if (!st) return;
        st.child.pid = num(ev["pid"]);
        st.child.containment = str(ev, "containment");
        st.child._spawned.resolve(st.child.pid);
        st.child.emit("spawn", st.child.pid);
        return;
      case "stdout":
      case "stderr": {
        const s = id !== undefined ? this.#outStream(id, ev["event"]) : null;
        if (s) this.#flows.push(s, payload(ev));
        return;
      }
      case "written":
        return st ? this.#answers.written(st.child, str(ev, "req")) : undefined;
      case "ack":
        return this.#answers.ack(str(ev, "req"));
      case "exit":
        if (st) st.child._exited = true;
        if (st) st.direct.finish(toOutcome(ev), (o) => st.child.done || this.#finishChild(st, undefined, o));
        return;
      case "list":
        return this.#answers.list(id, ev);
      case "error":
        return this.#onError(ev, id, st);
      case "bye":
        this.#bye = true;
        return;
      default:
        return; // unknown events are ignored (forward compatibility)
    }
  }

  #onHello(ev: Json): void {
    if (ev["protocol"] !== PROTOCOL_VERSION) {
      this.#fail(protocolMismatch(ev));
      this.#proc.stdin!.end();
      return;
    }
    const hello = (this.hello = toHello(ev));
    for (const req of this.#queue.splice(0)) {
      if (req.op === "spawn") {
        negotiate(req, hello, this.#framing, this.#windowOpt);
        const st = this.#children.get(req.id);
        if (st) this.#flows.start([st.child.stdout, st.child.stderr], req.window ?? undefined);
        if (st) this.#direct.wire(req, st);
      }
      this.#proc.stdin!.write(JSON.stringify(req) + "\n");
    }
    this.#ready.resolve(hello);
    this.#updateRef();
  }

  #onError(ev: Json, id: string | undefined, st: ChildState | undefined): void {
    const op = str(ev, "op");
    const err = new KennelError(String(ev["code"] ?? "internal"), String(ev["message"] ?? "kennel sidecar error"), { id, op });
    if (st && op === "spawn") {
      this.#finishChild(st, err);
      return;
    }
    if (!this.#answers.error(err, id, st?.child, op, str(ev, "req"))) this.emit("protocolError", err);
  }

  #finishChild(st: ChildState, err: KennelError | undefined, outcome?: Outcome): void {
    const c = st.child;
    this.#children.delete(c.id);
    c.done = true;
    for (const f of st.cleanup) f();
    for (const s of [c.stdout, c.stderr]) {
      // A frame cut short by a failure has nowhere to go any more.
      this.#parser.forget(s);
      if (!s.readableEnded && !s.destroyed) s.push(null);
      // No more data will come for it: no more credit to return.
      this.#flows.end(s);
    }
    this.#busy(-c._failWrites(err));
    this.#answers.childGone(c.id, err);
    if (err) {
      c._spawned.reject(err);
      c._outcome.reject(err);
    } else if (outcome) {
      if (!c._spawned.settled) c._spawned.resolve(outcome.pid);
      c._outcome.resolve(outcome);
      c.emit("exit", outcome);
    }
    this.#busy(-1);
  }

  #fail(err: KennelError): void {
    if (this.#failure) return;
    this.#failure = err;
    this.#ready.reject(err);
    for (const st of [...this.#children.values()]) this.#finishChild(st, err);
    this.#answers.fail(err);
    this.#flows.clear();
    this.#queue.length = 0;
    this.#updateRef();
  }
}
