/**
 * kennel — Node/TypeScript client of the `kennel serve` sidecar (protocol v1, see
 * docs/PROTOCOL.md). One {@link Kennel} owns one sidecar process and multiplexes any
 * number of children over its stdin/stdout.
 *
 * No runtime dependencies; Node >= 20.
 */
import { spawn as cpSpawn, type ChildProcess } from "node:child_process";
import { EventEmitter } from "node:events";
import { Readable, Writable } from "node:stream";
import { randomBytes } from "node:crypto";
import { locateKennelBin } from "./locate.js";
import type {
  CancelRequest,
  CloseStdinRequest,
  CreditRequest,
  KillRequest,
  Request,
  SignalRequest,
  SpawnRequest,
  WriteRequest,
} from "./protocol.js";

/** The requests on a child answered by `ack` (or `error`). */
type AnsweredRequest = CancelRequest | CloseStdinRequest | KillRequest | SignalRequest;

/** The protocol version this client speaks. */
export const PROTOCOL_VERSION = 1;

/** Largest raw stdin payload sent in one `write` request (base64 of it is 683 KiB). */
const WRITE_CHUNK_BYTES = 512 * 1024;
/** Window per output stream when the sidecar does not recommend one (`hello.window_bytes`). */
const DEFAULT_WINDOW_BYTES = 4 * 1024 * 1024;
/**
 * Credit goes back once a 1/CREDIT_FRACTION of the window was read, so the sidecar keeps
 * 3/4 of a window of room while the credit travels (see DECISIONS, "Flow control").
 */
const CREDIT_FRACTION = 4;
/** The protocol's bounds of `spawn.window`. */
const MIN_WINDOW_BYTES = 1024;
const MAX_WINDOW_BYTES = 2 ** 31 - 1;
/** First byte of a binary data frame (an event line always starts with `{`). */
const FRAME_MARKER = 0x00;
/** Fixed part of a frame header: marker, stream, id length (u16), payload length (u32). */
const FRAME_HEADER_BYTES = 8;
/** Longest child id (bytes), so the longest frame header is 8 + 256 bytes. */
const MAX_ID_BYTES = 256;

// ---------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------
// Public types
// ---------------------------------------------------------------------------------------

/** A signal: a name with or without `SIG` (case ignored) or a raw number 1..=64. */
export type Signal = string | number;

/** One rung of the termination ladder: send `signal` to the tree, wait `waitMs`. */
export interface LadderRung {
  signal: Signal;
  waitMs: number;
}

/** Output cap of one stream. */
export interface OutputCap {
  bytes: number;
  /** `truncate` (default): keep draining, drop the rest; `kill`: terminate the tree. */
  policy?: "truncate" | "kill";
}

/** Per-tier containment switches: absent = use if available, false = avoid, true = require. */
export interface ContainmentSwitches {
  cgroup?: boolean;
  subreaper?: boolean;
  group?: boolean;
  job_object?: boolean;
}

/** Options of {@link Kennel.spawn}. Every field maps to a field of the `spawn` request. */
export interface SpawnOptions {
  /** Working directory (default: the sidecar's). */
  cwd?: string;
  /**
   * Variables set over the inherited environment (the sidecar's, i.e. the environment
   * this process had when the Kennel started). A value of `undefined` removes the
   * variable (like `envRemove`).
   */
  env?: Record<string, string | undefined>;
  /** Variables removed from the inherited environment (before `env` is applied). */
  envRemove?: string[];
  /** Start from an empty environment (then only `env` is set). */
  envClear?: boolean;
  /** `true`: run `cmd` as a command line with `/bin/sh -c`; a string: that shell. */
  shell?: boolean | string;
  /** `"pipe"` enables `write`/`end`/`stdin`; default `"null"`. */
  stdin?: "pipe" | "null";
  /** Default `"pipe"`. With `"null"` the stream ends empty at once. */
  stdout?: "pipe" | "null";
  /** Default `"pipe"`. With `"null"` the stream ends empty at once. */
  stderr?: "pipe" | "null";
  /** Run the ladder after this many ms (`reason: "timed_out"`). */
  timeoutMs?: number;
  /** Explicit ladder (at most 16 rungs; the forceful kill after the last is implicit). */
  ladder?: LadderRung[];
  /** Shortcut for a one-rung ladder: its signal (default SIGTERM). Not with `ladder`. */
  signal?: Signal;
  /** Shortcut for a one-rung ladder: its wait (default 5000 ms). Not with `ladder`. */
  graceMs?: number;
  /** Output caps per stream. */
  caps?: { stdout?: OutputCap; stderr?: OutputCap };
  /** How long to wait for the pipes to reach EOF after the tree is gone. */
  drainTimeoutMs?: number;
  /** Leave descendants alive after the leader exits. */
  keepLeftovers?: boolean;
  /** Containment tier switches. */
  containment?: ContainmentSwitches;
  /** Aborting it runs {@link KennelChild.cancel} (the ladder on the whole tree). */
  abortSignal?: AbortSignal;
}

/** Byte counts of one output stream in an {@link Outcome}. */
export interface StreamStats {
  /** Bytes delivered. */
  bytes: number;
  /** Bytes dropped beyond the cap. */
  dropped: number;
  /** Whether the cap was reached. */
  capHit: boolean;
}

/** Why a child ended (`exit.reason`); other strings may appear in future versions. */
export type ExitReason =
  | "exited"
  | "timed_out"
  | "cancelled"
  | "killed"
  | "output_cap"
  | "supervisor_shutdown"
  | (string & {});

/** The `exit` event of a child, every field, in camelCase. */
export interface Outcome {
  /** The leader's pid. */
  pid: number;
  /** Exit code if the leader exited normally, else null. */
  code: number | null;
  /** The signal number that killed the leader, else null. */
  signal: number | null;
  /** Its name, e.g. `"SIGKILL"`. */
  signalName: string | null;
  reason: ExitReason;
  /** Index of the rung in effect when the tree ended (ladder length = forceful); null if never signalled. */
  ladderStep: number | null;
  /** The forceful last rung was needed. */
  forced: boolean;
  wallTimeMs: number;
  stdout: StreamStats;
  stderr: StreamStats;
  /** `complete`: both pipes reached EOF; `timeout`: a leaked process held a pipe. */
  drain: "complete" | "timeout" | (string & {});
  /** Descendants found alive after the leader exited, and killed. */
  leftoversKilled: number[];
  /** Containment tier in effect. */
  containment: string;
  /** Non-fatal problems, as sentences. */
  errors: string[];
  /** The `exit` event as received (including fields this client does not know). */
  raw: Record<string, unknown>;
}

/**
 * Shell-style exit status of an outcome: the exit code, or 128 + N for a death by signal
 * N (like a POSIX shell's `$?`), or 1 if neither is known.
 */
export function exitStatus(outcome: Outcome): number {
  if (outcome.code !== null) return outcome.code;
  if (outcome.signal !== null) return 128 + outcome.signal;
  return 1;
}

/** The `hello` event. */
export interface Hello {
  protocol: number;
  kennel: string;
  platform: string;
  containment: string[];
  maxLineBytes: number;
  maxChildren: number;
  /** Output framings the sidecar offers (`["json"]` from sidecars older than binary frames). */
  framings: string[];
  /** Largest payload of one binary data frame. */
  maxFrameBytes: number;
  /** Optional protocol features (`flow_control`, `req`, `cancel_ladder`; empty from older sidecars). */
  features: string[];
  /** The sidecar's recommended flow-control window per stream, if it offers flow control. */
  windowBytes: number | undefined;
  raw: Record<string, unknown>;
}

/** One entry of {@link Kennel.list}. */
export interface ListedChild {
  id: string;
  pid: number;
  state: "running" | "exiting" | (string & {});
}

/** Options of {@link Kennel.start}. */
export interface KennelStartOptions {
  /** Path of the `kennel` binary. Default: see {@link locateKennelBin} (KENNEL_BIN, platform package, PATH). */
  bin?: string;
  /** Arguments after the binary (default `["serve"]`). */
  args?: string[];
  /** Environment of the sidecar (and so the environment children inherit). Default `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** Working directory of the sidecar. */
  cwd?: string;
  /** The sidecar's stderr (diagnostics): `"pipe"` (default, kept for error messages) or `"inherit"`. */
  stderr?: "pipe" | "inherit";
  /** How long to wait for `hello` (default 15000 ms). */
  helloTimeoutMs?: number;
  /**
   * Flow-control window per child output stream, in bytes (default: the sidecar's
   * `hello.window_bytes`, 4 MiB). The sidecar sends at most this many bytes of a stream
   * beyond what its consumer has read; then that child alone waits (it blocks in its own
   * write) while every other child keeps flowing. So a child's unread output costs this
   * client at most `windowBytes` per stream. See README, "Backpressure".
   */
  windowBytes?: number;
  /** @deprecated Use `windowBytes` (taken as `windowBytes` when that is absent). */
  maxBufferedBytes?: number;
  /**
   * How children's output travels from the sidecar: `"auto"` (default) uses binary data
   * frames when the sidecar offers them (`hello.framings`), else JSON events; `"json"`
   * always uses JSON events. The streams carry the same bytes either way.
   */
  framing?: "auto" | "json";
}

/** Options of {@link Kennel.run}. */
export interface RunOptions extends SpawnOptions {
  /** Written to stdin, which is then closed (implies `stdin: "pipe"`). */
  input?: string | Uint8Array;
}

/** Result of {@link Kennel.run}. */
export interface RunResult {
  stdout: Buffer;
  stderr: Buffer;
  outcome: Outcome;
}

// ---------------------------------------------------------------------------------------
// Binary location
// ---------------------------------------------------------------------------------------

export { locateKennelBin } from "./locate.js";

// ---------------------------------------------------------------------------------------
// Internals
// ---------------------------------------------------------------------------------------

type Json = Record<string, unknown>;

interface Deferred<T> {
  promise: Promise<T>;
  resolve: (v: T) => void;
  reject: (e: unknown) => void;
  settled: boolean;
}

function deferred<T>(handled = true): Deferred<T> {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // The caller may never await it: never let it become an unhandled rejection.
  if (handled) promise.catch(() => {});
  const d: Deferred<T> = {
    promise,
    settled: false,
    resolve: (v) => {
      if (d.settled) return;
      d.settled = true;
      resolve(v);
    },
    reject: (e) => {
      if (d.settled) return;
      d.settled = true;
      reject(e);
    },
  };
  return d;
}

function toBuffer(data: string | Uint8Array): Buffer {
  if (typeof data === "string") return Buffer.from(data, "utf8");
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

function payload(ev: Json): Buffer {
  if (typeof ev["data"] === "string") return Buffer.from(ev["data"], "utf8");
  if (typeof ev["data_b64"] === "string") return Buffer.from(ev["data_b64"], "base64");
  return Buffer.alloc(0);
}

function num(v: unknown, dflt = 0): number {
  return typeof v === "number" ? v : dflt;
}

function streamStats(v: unknown): StreamStats {
  const o = (v ?? {}) as Json;
  return { bytes: num(o["bytes"]), dropped: num(o["dropped"]), capHit: o["cap_hit"] === true };
}

function toOutcome(ev: Json): Outcome {
  return {
    pid: num(ev["pid"]),
    code: typeof ev["code"] === "number" ? ev["code"] : null,
    signal: typeof ev["signal"] === "number" ? ev["signal"] : null,
    signalName: typeof ev["signal_name"] === "string" ? ev["signal_name"] : null,
    reason: String(ev["reason"] ?? "exited"),
    ladderStep: typeof ev["ladder_step"] === "number" ? ev["ladder_step"] : null,
    forced: ev["forced"] === true,
    wallTimeMs: num(ev["wall_time_ms"]),
    stdout: streamStats(ev["stdout"]),
    stderr: streamStats(ev["stderr"]),
    drain: String(ev["drain"] ?? "complete"),
    leftoversKilled: Array.isArray(ev["leftovers_killed"]) ? (ev["leftovers_killed"] as number[]) : [],
    containment: String(ev["containment"] ?? ""),
    errors: Array.isArray(ev["errors"]) ? (ev["errors"] as string[]) : [],
    raw: ev,
  };
}

interface Unreffable {
  ref?: () => unknown;
  unref?: () => unknown;
}

/** A request tagged with `req`, waiting for its `ack` / `written` / `error`. */
interface PendingReq {
  childId: string;
  op: string;
  done: Deferred<void>;
}

/** Flow-control state of one output stream of a child. */
interface Flow {
  childId: string;
  stream: "stdout" | "stderr";
  /** Bytes received for the stream. */
  received: number;
  /** Bytes returned to the sidecar with `credit` (or not to be returned: no flow control). */
  returned: number;
  /** The stream's window (0: no flow control for this child). */
  window: number;
}

/** Options of {@link KennelChild.cancel}. */
export interface CancelOptions {
  /**
   * A ladder for this cancel instead of the spawn's (the forceful kill after the last
   * rung is implicit). Needs a sidecar offering `cancel_ladder`; older ones run the
   * spawn's ladder.
   */
  ladder?: LadderRung[];
}

/** A request waiting for the `list` reply that follows it (sidecars without `req` tags). */
interface Barrier {
  childId: string | undefined;
  op: string;
  done: Deferred<void>;
  onList?: (ev: Json) => void;
}

// ---------------------------------------------------------------------------------------
// KennelChild
// ---------------------------------------------------------------------------------------

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

  /** @internal */
  readonly _spawned = deferred<number>();
  /** @internal */
  readonly _outcome = deferred<Outcome>();
  /** @internal */
  readonly _writes: Deferred<void>[] = [];
  /** @internal */
  _stdinEnded = false;
  readonly #kennel: Kennel;

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
    const swallow = (e: unknown, cb: (e?: Error | null) => void) => {
      // Like writing to a pipe whose reader is gone, minus the EPIPE crash: a child that
      // closed its stdin (or exited) discards what is still written to it.
      if (e instanceof KennelError && (e.code === "stdin_closed" || e.code === "child_exited")) cb();
      else cb(e as Error);
    };
    return new Writable({
      write: (chunk: Buffer, _enc, cb) => {
        this.write(chunk).then(() => cb(), (e) => swallow(e, cb));
      },
      writev: (chunks, cb) => {
        this.write(Buffer.concat(chunks.map((c) => c.chunk as Buffer))).then(() => cb(), (e) => swallow(e, cb));
      },
      final: (cb) => {
        this.end().then(() => cb(), (e) => swallow(e, cb));
      },
    });
  }

  /**
   * Write to the child's stdin (`stdin: "pipe"`). Resolves on `written` (every byte is in
   * the child's stdin pipe). Payloads above 512 KiB are split into several `write`s.
   */
  write(data: string | Uint8Array): Promise<void> {
    if (this.done) {
      return Promise.reject(new KennelError("child_exited", `child ${this.id} has exited; cannot write to its stdin`, { id: this.id, op: "write" }));
    }
    const buf = typeof data === "string" && data.length <= 65536 ? null : toBuffer(data);
    const parts: WriteRequest[] = [];
    if (buf === null) {
      parts.push({ op: "write", id: this.id, data: data as string });
    } else if (buf.length === 0) {
      parts.push({ op: "write", id: this.id, data: "" });
    } else {
      for (let off = 0; off < buf.length; off += WRITE_CHUNK_BYTES) {
        parts.push({ op: "write", id: this.id, data_b64: buf.subarray(off, off + WRITE_CHUNK_BYTES).toString("base64") });
      }
    }
    const all: Promise<void>[] = [];
    for (const req of parts) {
      const d = deferred<void>();
      try {
        this.#kennel._sendWrite(req, d);
      } catch (e) {
        return Promise.reject(e);
      }
      this._writes.push(d);
      this.#kennel._busy(1);
      all.push(d.promise);
    }
    return Promise.all(all).then(() => undefined);
  }

  /** Close the child's stdin after pending writes (the child sees EOF). */
  end(): Promise<void> {
    if (this._stdinEnded || this.done) return Promise.resolve();
    this._stdinEnded = true;
    return this.#kennel._answeredOp({ op: "close_stdin", id: this.id }, this.id);
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
      req.ladder = opts.ladder.map((r) => ({ signal: r.signal, wait_ms: r.waitMs }));
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

  /** The forceful rung at once on the whole tree (`reason: "killed"`). No-op after exit. */
  kill(): Promise<void> {
    if (this.done) return Promise.resolve();
    return this.#kennel._answeredOp({ op: "kill", id: this.id }, this.id);
  }
}

// ---------------------------------------------------------------------------------------
// Kennel
// ---------------------------------------------------------------------------------------

interface ChildState {
  child: KennelChild;
  cleanup: (() => void)[];
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
  readonly #barriers = new Map<string, Barrier>();
  /** Requests sent before `hello`, serialized when it arrives. */
  readonly #queue: Request[] = [];
  readonly #framing: "auto" | "json";
  readonly #idPrefix = randomBytes(4).toString("hex");
  /** The window asked for each stream, or undefined for the sidecar's recommendation. */
  readonly #windowOpt: number | undefined;
  /** Requests waiting for their answer, by `req` tag. */
  readonly #reqs = new Map<string, PendingReq>();
  /** Flow-control state of every live output stream. */
  readonly #flows = new Map<Readable, Flow>();
  #nextId = 0;
  /** Pieces of an event line not yet ended by `\n`. */
  #pending: Buffer[] = [];
  /** The start of a frame header split across reads, or null. */
  #head: Buffer | null = null;
  /** Payload bytes of the current frame still to come, and where they go (null: dropped). */
  #frameLeft = 0;
  #frameTarget: Readable | null = null;
  /** The sidecar sent bytes that are neither an event line nor a valid frame. */
  #corrupt = false;
  #failure: KennelError | undefined = undefined;
  #closing = false;
  #bye = false;
  #busyCount = 0;
  #refd = true;
  #stderrTail = "";

  private constructor(opts: KennelStartOptions) {
    super();
    const bin = locateKennelBin(opts.bin);
    const window = opts.windowBytes ?? opts.maxBufferedBytes;
    if (window !== undefined && !(Number.isInteger(window) && window >= MIN_WINDOW_BYTES && window <= MAX_WINDOW_BYTES)) {
      throw new RangeError(`windowBytes must be an integer from ${MIN_WINDOW_BYTES} to ${MAX_WINDOW_BYTES}, not ${window}`);
    }
    this.#windowOpt = window;
    this.#framing = opts.framing ?? "auto";
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(opts.env ?? process.env)) if (typeof v === "string") env[k] = v;
    this.env = env;
    this.ready = this.#ready.promise;
    this.#proc = cpSpawn(bin, opts.args ?? ["serve"], {
      stdio: ["pipe", "pipe", opts.stderr === "inherit" ? "inherit" : "pipe"],
      env,
      cwd: opts.cwd,
      windowsHide: true,
    });
    const proc = this.#proc;
    proc.on("error", (e: NodeJS.ErrnoException) => {
      const why =
        e.code === "ENOENT"
          ? `kennel binary not found at ${JSON.stringify(bin)} (from the \`bin\` option or KENNEL_BIN)`
          : `cannot start kennel binary ${JSON.stringify(bin)}: ${e.message}`;
      this.#fail(new KennelError("start_failed", why, { cause: e }));
    });
    proc.stdin!.on("error", () => {
      /* EPIPE when the sidecar died: reported by the exit path */
    });
    proc.stdout!.on("data", (c: Buffer) => this.#onData(c));
    proc.stderr?.on("data", (c: Buffer) => {
      this.#stderrTail = (this.#stderrTail + c.toString("utf8")).slice(-4096);
    });
    proc.on("close", (code, signal) => {
      if (!this.#bye || this.#children.size > 0) {
        const how = signal !== null ? `killed by ${signal}` : `exit code ${code}`;
        const tail = this.#stderrTail.trim();
        this.#fail(
          new KennelError(
            "sidecar_exited",
            `kennel sidecar exited unexpectedly (${how})${this.#bye ? " after bye" : " without bye"}` +
              (tail ? `; its stderr: ${tail}` : ""),
          ),
        );
      } else {
        this.#fail(new KennelError("closed", "the kennel sidecar was closed"));
      }
      this.#closed.resolve();
      this.emit("exit", code, signal);
    });
    const timeout = setTimeout(() => {
      if (!this.hello) {
        this.#fail(new KennelError("start_failed", `kennel sidecar sent no hello within ${opts.helloTimeoutMs ?? 15000} ms`));
        proc.kill("SIGKILL");
      }
    }, opts.helloTimeoutMs ?? 15000);
    timeout.unref();
    this.ready.then(
      () => clearTimeout(timeout),
      () => clearTimeout(timeout),
    );
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
    const req: SpawnRequest = { op: "spawn", id, cmd };
    if (args.length > 0) req["args"] = args;
    if (opts.cwd !== undefined) req["cwd"] = opts.cwd;
    if (opts.env !== undefined) {
      const env: Record<string, string> = {};
      const remove = [...(opts.envRemove ?? [])];
      for (const [k, v] of Object.entries(opts.env)) {
        if (v === undefined) remove.push(k);
        else env[k] = v;
      }
      if (Object.keys(env).length > 0) req["env"] = env;
      if (remove.length > 0) req["env_remove"] = remove;
    } else if (opts.envRemove !== undefined && opts.envRemove.length > 0) {
      req["env_remove"] = opts.envRemove;
    }
    if (opts.envClear) req["env_clear"] = true;
    if (opts.shell !== undefined && opts.shell !== false) req["shell"] = opts.shell;
    if (opts.stdin !== undefined) req["stdin"] = opts.stdin;
    if (opts.stdout !== undefined) req["stdout"] = opts.stdout;
    if (opts.stderr !== undefined) req["stderr"] = opts.stderr;
    if (opts.timeoutMs !== undefined) req["timeout_ms"] = opts.timeoutMs;
    if (opts.ladder !== undefined) req["ladder"] = opts.ladder.map((r) => ({ signal: r.signal, wait_ms: r.waitMs }));
    if (opts.signal !== undefined) req["signal"] = opts.signal;
    if (opts.graceMs !== undefined) req["grace_ms"] = opts.graceMs;
    if (opts.caps?.stdout) req["stdout_cap"] = { bytes: opts.caps.stdout.bytes, policy: opts.caps.stdout.policy ?? "truncate" };
    if (opts.caps?.stderr) req["stderr_cap"] = { bytes: opts.caps.stderr.bytes, policy: opts.caps.stderr.policy ?? "truncate" };
    if (opts.drainTimeoutMs !== undefined) req["drain_timeout_ms"] = opts.drainTimeoutMs;
    if (opts.keepLeftovers) req["keep_leftovers"] = true;
    if (opts.containment !== undefined) req["containment"] = opts.containment;
    // Before `hello` framing and flow control are unknown: #onHello adds them to the
    // queued request.
    if (this.hello) this.#negotiate(req);

    const child = new KennelChild(this, id, opts.stdin === "pipe");
    const state: ChildState = { child, cleanup: [] };
    if (opts.stdout === "null") child.stdout.push(null);
    if (opts.stderr === "null") child.stderr.push(null);
    this.#send(req); // throws line_too_long before anything is registered
    this.#children.set(id, state);
    this.#startFlow(child, req);
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
    const child = this.spawn(cmd, args, rest);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (c: Buffer) => out.push(c));
    child.stderr.on("data", (c: Buffer) => err.push(c));
    const ended = (s: Readable) => new Promise<void>((res) => (s.readableEnded ? res() : s.once("end", res).once("close", res)));
    if (input !== undefined) {
      child.write(input).then(() => child.end()).catch(() => {});
    } else if (rest.stdin === "pipe") {
      child.end().catch(() => {});
    }
    const outcome = await child.outcome;
    await Promise.all([ended(child.stdout), ended(child.stderr)]);
    return { stdout: Buffer.concat(out), stderr: Buffer.concat(err), outcome };
  }

  /** The sidecar's children (`list`). */
  async list(): Promise<ListedChild[]> {
    this.#throwIfDead();
    const id = `l${this.#idPrefix}-${++this.#nextId}`;
    const d = deferred<void>();
    const result: ListedChild[] = [];
    const onList = (ev: Json) => {
      const children = Array.isArray(ev["children"]) ? (ev["children"] as Json[]) : [];
      for (const c of children) result.push({ id: String(c["id"]), pid: num(c["pid"]), state: String(c["state"]) });
    };
    this.#send({ op: "list", id });
    this.#barriers.set(id, { childId: undefined, op: "list", done: d, onList });
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
    const id = req.id;
    if (this.hello?.features.includes("req")) {
      const tag = `w${++this.#nextId}`;
      this.#send({ ...req, req: tag });
      this.#reqs.set(tag, { childId: id, op: "write", done: d });
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
    try {
      this.#throwIfDead();
      this.#send({ ...req, req: tag });
    } catch (e) {
      return Promise.reject(e);
    }
    const d = deferred<void>();
    this.#reqs.set(tag, { childId, op: req.op, done: d });
    this.#busy(1);
    return d.promise;
  }

  /** @internal */
  _barrierOp(req: AnsweredRequest, childId: string): Promise<void> {
    try {
      this.#throwIfDead();
      this.#send(req);
    } catch (e) {
      return Promise.reject(e);
    }
    const id = `b${this.#idPrefix}-${++this.#nextId}`;
    const d = deferred<void>();
    this.#barriers.set(id, { childId, op: req.op, done: d });
    this.#busy(1);
    this.#send({ op: "list", id });
    return d.promise;
  }

  /**
   * @internal A child's output stream. Credit is returned as its consumer reads: `read`
   * is called whenever the stream wants more (its buffer fell below the high-water mark),
   * and after every push; a stream destroyed unread returns all it gets at once.
   */
  _makeOutStream(childId: string, stream: "stdout" | "stderr"): Readable {
    const s: Readable = new Readable({
      // `read` runs before the consumer takes the buffered bytes: count them just after.
      read: () => process.nextTick(() => this.#credit(s)),
    });
    this.#flows.set(s, { childId, stream, received: 0, returned: 0, window: 0 });
    s.on("close", () => this.#credit(s));
    return s;
  }

  // ----- private -----

  #throwIfDead(): void {
    if (this.#failure) throw this.#failure;
    if (this.#closing) throw new KennelError("closed", "this Kennel is closed");
  }

  #send(req: Request): void {
    if (this.#failure) throw this.#failure;
    const line = JSON.stringify(req);
    const max = this.hello?.maxLineBytes ?? 1048576;
    if (Buffer.byteLength(line, "utf8") > max) {
      throw new KennelError("line_too_long", `${String(req["op"])} request of ${Buffer.byteLength(line)} bytes exceeds the sidecar's max_line_bytes (${max})`, {
        id: typeof req["id"] === "string" ? req["id"] : undefined,
        op: String(req["op"]),
      });
    }
    if (this.hello) this.#proc.stdin!.write(line + "\n");
    else this.#queue.push(req);
  }

  /** Adds what `hello` allows to a `spawn` request: binary framing, a flow-control window. */
  #negotiate(req: SpawnRequest): void {
    if (this.#binaryFrames()) req["framing"] = "binary";
    if (this.hello?.features.includes("flow_control")) {
      req["window"] = this.#windowOpt ?? this.hello.windowBytes ?? DEFAULT_WINDOW_BYTES;
    }
  }

  /** Starts counting credit for a child's streams once its spawn asked for a window. */
  #startFlow(child: KennelChild, req: SpawnRequest): void {
    const window = req.window;
    if (typeof window !== "number") return;
    for (const s of [child.stdout, child.stderr]) {
      const f = this.#flows.get(s);
      if (f) f.window = window;
    }
  }

  /**
   * Returns credit for what the consumer of `s` has read, once that is a quarter of a
   * window (so the sidecar always has room to send while the consumer keeps up), or
   * everything received once nobody will read `s` any more.
   */
  #credit(s: Readable): void {
    const f = this.#flows.get(s);
    if (!f || f.window === 0 || this.#failure || this.#closing) return;
    const gone = s.destroyed || s.readableEnded;
    const consumed = gone ? f.received : f.received - s.readableLength;
    const owed = consumed - f.returned;
    // The sidecar sends exactly a window, then waits: return whatever was read.
    const stalled = f.received - f.returned >= f.window;
    if (owed <= 0 || (!gone && !stalled && owed < f.window / CREDIT_FRACTION)) return;
    f.returned += owed;
    const credit: CreditRequest = { op: "credit", id: f.childId, stream: f.stream, bytes: owed };
    this.#proc.stdin!.write(JSON.stringify(credit) + "\n");
  }

  /** Whether children are spawned with `"framing": "binary"` (needs `hello`). */
  #binaryFrames(): boolean {
    return this.#framing === "auto" && this.hello !== undefined && this.hello.framings.includes("binary");
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
    const handles: (Unreffable | null | undefined)[] = [this.#proc, this.#proc.stdin as Unreffable, this.#proc.stdout as Unreffable, this.#proc.stderr as Unreffable];
    for (const h of handles) {
      if (!h) continue;
      if (want) h.ref?.();
      else h.unref?.();
    }
  }

  /**
   * Splits the sidecar's stdout into event lines and binary data frames (see
   * docs/PROTOCOL.md). A frame's payload is pushed to its stream piece by piece as it
   * arrives, as slices of the read buffers: no copy, no wait for the whole frame.
   */
  #onData(chunk: Buffer): void {
    let pos = 0;
    const end = chunk.length;
    while (pos < end && !this.#corrupt) {
      if (this.#frameLeft > 0) {
        const n = Math.min(this.#frameLeft, end - pos);
        if (this.#frameTarget) this.#pushOutput(this.#frameTarget, chunk.subarray(pos, pos + n));
        this.#frameLeft -= n;
        pos += n;
      } else if (this.#head !== null) {
        // A header split across reads: complete it (at most 8 + 256 bytes).
        const have = this.#head.length;
        const need = have < FRAME_HEADER_BYTES ? FRAME_HEADER_BYTES : FRAME_HEADER_BYTES + this.#head.readUInt16BE(2);
        const take = Math.min(need - have, end - pos);
        this.#head = Buffer.concat([this.#head, chunk.subarray(pos, pos + take)]);
        pos += take;
        if (this.#head.length < FRAME_HEADER_BYTES) continue;
        const idLen = this.#head.readUInt16BE(2);
        if (idLen === 0 || idLen > MAX_ID_BYTES) {
          this.#corruptOutput(`a data frame header with an id length of ${idLen}`);
          return;
        }
        if (this.#head.length === FRAME_HEADER_BYTES + idLen) {
          const head = this.#head;
          this.#head = null;
          this.#startFrame(head, 0);
        }
      } else if (this.#pending.length > 0) {
        const nl = chunk.indexOf(10, pos);
        if (nl === -1) {
          this.#pending.push(chunk.subarray(pos));
          return;
        }
        this.#pending.push(chunk.subarray(pos, nl));
        const line = Buffer.concat(this.#pending);
        this.#pending = [];
        pos = nl + 1;
        if (line.length > 0) this.#onLine(line);
      } else if (chunk[pos] === FRAME_MARKER) {
        const avail = end - pos;
        if (avail >= FRAME_HEADER_BYTES && avail >= FRAME_HEADER_BYTES + chunk.readUInt16BE(pos + 2)) {
          pos = this.#startFrame(chunk, pos);
        } else {
          // The rest of this read is the start of a header.
          this.#head = Buffer.from(chunk.subarray(pos));
          pos = end;
        }
      } else {
        const nl = chunk.indexOf(10, pos);
        if (nl === -1) {
          this.#pending.push(chunk.subarray(pos));
          return;
        }
        if (nl > pos) this.#onLine(chunk.subarray(pos, nl));
        pos = nl + 1;
      }
    }
  }

  /** Reads the complete frame header at `buf[off..]`; returns the offset after it. */
  #startFrame(buf: Buffer, off: number): number {
    const stream = buf[off + 1];
    const idLen = buf.readUInt16BE(off + 2);
    const len = buf.readUInt32BE(off + 4);
    const max = this.hello?.maxFrameBytes || 1048576;
    if ((stream !== 1 && stream !== 2) || idLen === 0 || idLen > MAX_ID_BYTES || len === 0 || len > max) {
      this.#corruptOutput(`a malformed data frame header (stream ${stream}, id length ${idLen}, payload length ${len})`);
      return buf.length;
    }
    const id = buf.toString("utf8", off + FRAME_HEADER_BYTES, off + FRAME_HEADER_BYTES + idLen);
    const st = this.#children.get(id);
    const s = st ? (stream === 1 ? st.child.stdout : st.child.stderr) : null;
    this.#frameTarget = s && !s.readableEnded ? s : null;
    this.#frameLeft = len;
    return off + FRAME_HEADER_BYTES + idLen;
  }

  /**
   * Output bytes for a child's stream. Never pauses the sidecar: the child's window bounds
   * what can arrive unread, and credit goes back as the consumer reads.
   */
  #pushOutput(s: Readable, bytes: Buffer): void {
    const f = this.#flows.get(s);
    if (f) f.received += bytes.length;
    s.push(bytes);
    // A flowing consumer took it synchronously.
    this.#credit(s);
  }

  /** The byte stream cannot be followed any more: fail every child and end the sidecar. */
  #corruptOutput(what: string): void {
    this.#corrupt = true;
    this.#fail(new KennelError("invalid_event", `kennel sidecar sent ${what}; its output cannot be followed any more`));
    this.#proc.stdin!.end();
  }

  #onLine(line: Buffer): void {
    let ev: Json;
    try {
      const v: unknown = JSON.parse(line.toString("utf8"));
      if (typeof v !== "object" || v === null || Array.isArray(v)) throw new Error("not an object");
      ev = v as Json;
    } catch (e) {
      this.emit("protocolError", new KennelError("invalid_event", `kennel sidecar sent an unparsable line: ${line.toString("utf8").slice(0, 200)}`, { cause: e }));
      return;
    }
    const id = typeof ev["id"] === "string" ? ev["id"] : undefined;
    switch (ev["event"]) {
      case "hello":
        return this.#onHello(ev);
      case "spawned": {
        const st = id && this.#children.get(id);
        if (!st) return;
        st.child.pid = num(ev["pid"]);
        st.child.containment = typeof ev["containment"] === "string" ? ev["containment"] : undefined;
        st.child._spawned.resolve(st.child.pid);
        st.child.emit("spawn", st.child.pid);
        return;
      }
      case "stdout":
      case "stderr": {
        const st = id && this.#children.get(id);
        if (!st) return;
        const s = ev["event"] === "stdout" ? st.child.stdout : st.child.stderr;
        if (s.readableEnded) return;
        this.#pushOutput(s, payload(ev));
        return;
      }
      case "written": {
        const st = id && this.#children.get(id);
        if (!st) return;
        const tag = typeof ev["req"] === "string" ? ev["req"] : undefined;
        const p = tag !== undefined ? this.#reqs.get(tag) : undefined;
        if (p) this.#reqs.delete(tag!);
        const writes = st.child._writes;
        const i = p ? writes.indexOf(p.done) : 0;
        const d = i >= 0 ? writes.splice(i, 1)[0] : undefined;
        if (d) {
          d.resolve();
          this.#busy(-1);
        }
        return;
      }
      case "ack": {
        const tag = typeof ev["req"] === "string" ? ev["req"] : undefined;
        const p = tag !== undefined ? this.#reqs.get(tag) : undefined;
        if (!p) return;
        this.#reqs.delete(tag!);
        p.done.resolve();
        this.#busy(-1);
        return;
      }
      case "exit": {
        const st = id && this.#children.get(id);
        if (!st) return;
        this.#finishChild(st, undefined, toOutcome(ev));
        return;
      }
      case "list": {
        const b = id && this.#barriers.get(id);
        if (!b) return;
        this.#barriers.delete(id);
        b.onList?.(ev);
        b.done.resolve();
        this.#busy(-1);
        return;
      }
      case "error":
        return this.#onError(ev, id);
      case "bye":
        this.#bye = true;
        return;
      default:
        return; // unknown events are ignored (forward compatibility)
    }
  }

  #onHello(ev: Json): void {
    if (ev["protocol"] !== PROTOCOL_VERSION) {
      this.#fail(
        new KennelError(
          "protocol_mismatch",
          `kennel sidecar speaks protocol ${JSON.stringify(ev["protocol"])} (kennel ${String(ev["kennel"])}), this client speaks ${PROTOCOL_VERSION}`,
        ),
      );
      this.#proc.stdin!.end();
      return;
    }
    this.hello = {
      protocol: 1,
      kennel: String(ev["kennel"] ?? ""),
      platform: String(ev["platform"] ?? ""),
      containment: Array.isArray(ev["containment"]) ? (ev["containment"] as string[]) : [],
      maxLineBytes: num(ev["max_line_bytes"], 1048576),
      maxChildren: num(ev["max_children"], 0),
      framings: Array.isArray(ev["framings"]) ? (ev["framings"] as string[]) : ["json"],
      maxFrameBytes: num(ev["max_frame_bytes"], 0),
      features: Array.isArray(ev["features"]) ? (ev["features"] as unknown[]).map(String) : [],
      windowBytes: typeof ev["window_bytes"] === "number" ? ev["window_bytes"] : undefined,
      raw: ev,
    };
    for (const req of this.#queue.splice(0)) {
      if (req.op === "spawn") {
        this.#negotiate(req);
        const st = this.#children.get(req.id);
        if (st) this.#startFlow(st.child, req);
      }
      this.#proc.stdin!.write(JSON.stringify(req) + "\n");
    }
    this.#ready.resolve(this.hello);
    this.#updateRef();
  }

  #onError(ev: Json, id: string | undefined): void {
    const op = typeof ev["op"] === "string" ? ev["op"] : undefined;
    const err = new KennelError(String(ev["code"] ?? "internal"), String(ev["message"] ?? "kennel sidecar error"), { id, op });
    const st = id !== undefined ? this.#children.get(id) : undefined;
    if (st && op === "spawn") {
      this.#finishChild(st, err);
      return;
    }
    const tag = typeof ev["req"] === "string" ? ev["req"] : undefined;
    const p = tag !== undefined ? this.#reqs.get(tag) : undefined;
    if (p) {
      this.#reqs.delete(tag!);
      if (p.op === "write" && st) {
        const i = st.child._writes.indexOf(p.done);
        if (i >= 0) st.child._writes.splice(i, 1);
      }
      // unknown_id after the child's exit: the request raced the exit, nothing to do.
      const child = this.#children.get(p.childId)?.child;
      if (err.code === "unknown_id" && p.op !== "write" && (child === undefined || child.done)) p.done.resolve();
      else p.done.reject(err);
      this.#busy(-1);
      return;
    }
    if (st && op === "write") {
      const d = st.child._writes.shift();
      if (d) {
        d.reject(err);
        this.#busy(-1);
        return;
      }
    }
    if (id !== undefined && op !== undefined) {
      // An op without a success reply: reject the oldest barrier waiting for it.
      for (const [bid, b] of this.#barriers) {
        if (b.childId === id && b.op === op && !b.done.settled) {
          const child = this.#children.get(id)?.child;
          // unknown_id after the child's exit: the op raced the exit, nothing to do.
          if (err.code === "unknown_id" && (child === undefined || child.done)) b.done.resolve();
          else b.done.reject(err);
          this.#barriers.delete(bid);
          this.#busy(-1);
          return;
        }
      }
    }
    this.emit("protocolError", err);
  }

  #finishChild(st: ChildState, err: KennelError | undefined, outcome?: Outcome): void {
    const c = st.child;
    this.#children.delete(c.id);
    // A frame cut short by a failure has nowhere to go any more.
    if (this.#frameTarget === c.stdout || this.#frameTarget === c.stderr) this.#frameTarget = null;
    c.done = true;
    for (const f of st.cleanup) f();
    for (const s of [c.stdout, c.stderr]) {
      if (!s.readableEnded && !s.destroyed) s.push(null);
      // No more data will come for it: no more credit to return.
      this.#flows.delete(s);
    }
    for (const d of c._writes.splice(0)) {
      d.reject(err ?? new KennelError("child_exited", `child ${c.id} exited before its stdin write completed`, { id: c.id, op: "write" }));
      this.#busy(-1);
    }
    // Every answer comes before `exit`; anything still waiting lost its child.
    for (const [tag, p] of this.#reqs) {
      if (p.childId !== c.id) continue;
      this.#reqs.delete(tag);
      if (p.op === "write") continue; // counted with _writes above
      if (err) p.done.reject(err);
      else p.done.resolve();
      this.#busy(-1);
    }
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
    for (const b of this.#barriers.values()) b.done.reject(err);
    this.#busy(-this.#barriers.size);
    this.#barriers.clear();
    for (const p of this.#reqs.values()) p.done.reject(err);
    this.#busy(-this.#reqs.size);
    this.#reqs.clear();
    this.#flows.clear();
    this.#queue.length = 0;
    this.#updateRef();
  }
}

// ---------------------------------------------------------------------------------------
// Default shared instance
// ---------------------------------------------------------------------------------------

let defaultKennel: Kennel | undefined;

/**
 * A shared Kennel, started lazily on first call (binary from env `KENNEL_BIN`), usable
 * at once (requests are queued until `hello`). It never keeps the process alive while
 * idle and its sidecar gets EOF on process exit. If it died, the next call starts a new
 * one (children of the dead one stay rejected).
 */
export function getDefaultKennel(opts: KennelStartOptions = {}): Kennel {
  if (defaultKennel && !defaultKennel.failure) return defaultKennel;
  const k = Kennel.create(opts);
  defaultKennel = k;
  const onExit = () => {
    // The process is exiting: EOF makes the sidecar run every child's ladder and exit.
    void k.close().catch(() => {});
  };
  process.once("exit", onExit);
  k.once("exit", () => process.removeListener("exit", onExit));
  return k;
}
