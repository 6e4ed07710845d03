/**
 * Direct output streams (docs/PROTOCOL.md, "Direct streams"): the child writes into a
 * connection to this client's own UNIX socket, which the client reads itself with
 * libuv (the same transport and reads as `child_process`), so the sidecar is not in the
 * data path. One listening socket per {@link Kennel}, made on first use in a private
 * directory; the sidecar connects once per direct stream before the fork and writes a
 * header line naming the spawn's token, the child and the stream. What the child
 * writes before the connection is accepted waits in the socket.
 *
 * When a stream reaches EOF the client sends `eof`: the sidecar's drain waits for it as
 * it waits for a pipe's EOF, so a background descendant's late output is delivered.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable } from "node:stream";
import type { OutputStream, SpawnRequest } from "./protocol.js";

/** The sidecar's default drain timeout (`kennel serve --drain-timeout`). */
export const DEFAULT_DRAIN_TIMEOUT_MS = 1000;

/**
 * How far a reader reads ahead of its consumer before it stops reading (the child then
 * blocks in its own write): the default flow-control window of a piped stream, so a
 * direct stream holds no more in the client than a piped one. Reading ahead lets the
 * client see EOF (and report it) while the consumer is slow.
 */
export const READ_AHEAD_BYTES = 4 * 1024 * 1024;

/** The longest header line the sidecar writes (token, id and stream as JSON). */
const MAX_HEADER_BYTES = 4096;

/** The prefix of every client's socket directory: `kennel-node-<pid>-<pid namespace>-`. */
const DIR_PREFIX = "kennel-node-";

/** Reads one direct stream's connection into the child's `Readable`. */
export class DirectReader {
  /** Resolves once the connection is closed: EOF, an error, or the consumer destroyed the stream. */
  readonly closed: Promise<void>;
  readonly #s: Readable;
  readonly #onEof: () => void;
  #socket: Socket | null = null;
  #closed!: () => void;
  /** The child exited: read what is left whatever the consumer's pace (it is bounded: nothing writes any more). */
  #draining = false;

  /** Feeds `s` once the connection arrives; `onEof` runs when the stream ended. */
  constructor(s: Readable, onEof: () => void) {
    this.#s = s;
    this.#onEof = onEof;
    this.closed = new Promise((resolve) => (this.#closed = resolve));
    // Nobody will read any more: close the connection (the tree's next write gets
    // EPIPE, as with a pipe whose reader is gone).
    s.once("close", () => {
      if (this.#socket) this.#socket.destroy();
      else this.#closed();
    });
  }

  /** The sidecar's connection for this stream arrived; `rest` is what followed its header. */
  attach(socket: Socket, rest: Buffer): void {
    const s = this.#s;
    if (this.#socket || s.destroyed) {
      socket.destroy();
      return;
    }
    this.#socket = socket;
    socket.once("close", () => this.#closed());
    const push = (chunk: Buffer) => {
      if (s.destroyed) return;
      s.push(chunk);
      // Backpressure is the socket itself: a paused socket stays full, and the child
      // (only it) blocks in its own write.
      if (s.readableLength >= READ_AHEAD_BYTES && !this.#draining) socket.pause();
    };
    if (rest.length > 0) push(rest);
    socket.on("data", push);
    socket.on("end", () => {
      if (!s.destroyed) s.push(null);
      this.#onEof();
    });
    socket.on("error", (e) => s.destroy(e));
    s._read = () => {
      socket.resume();
    };
    socket.resume();
  }

  /**
   * The child's `exit` arrived: read the rest regardless of the consumer's pace, and
   * resolve `true` on EOF, or `false` after `ms` (a writer that escaped the tree's
   * teardown holds the connection: it is closed, as the sidecar's drain timeout closes a pipe).
   */
  async drain(ms: number): Promise<boolean> {
    this.#draining = true;
    this.#socket?.resume();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), ms);
    });
    const drained = await Promise.race([this.closed.then(() => true), timedOut]);
    clearTimeout(timer);
    if (!drained) {
      this.#socket?.destroy();
      if (!this.#s.destroyed && !this.#s.readableEnded) this.#s.push(null);
      this.#closed();
    }
    return drained;
  }
}

/** The direct streams of one child. */
export class DirectStreams {
  #token: string | undefined;

  /**
   * The spawn's token, named in each connection's header. Made on first use: most
   * spawns have no direct stream, and 16 random bytes were a tenth of the client's
   * CPU per spawn.
   */
  get token(): string {
    return (this.#token ??= randomBytes(16).toString("hex"));
  }
  readonly #readers = new Map<OutputStream, DirectReader>();
  readonly #drainMs: number;

  /** `drainMs`: the child's drain timeout (the spawn's `drainTimeoutMs`, else the sidecar's default). */
  constructor(drainMs: number | undefined) {
    this.#drainMs = drainMs ?? DEFAULT_DRAIN_TIMEOUT_MS;
  }

  /** Expects a connection for `stream`, fed into `s`; `onEof(stream)` once it ended. */
  expect(stream: OutputStream, s: Readable, onEof: (stream: OutputStream) => void): void {
    this.#readers.set(stream, new DirectReader(s, () => onEof(stream)));
  }

  /** Whether any stream is direct. */
  get any(): boolean {
    return this.#readers.size > 0;
  }

  /** Routes a connection whose header named `stream`. */
  attach(stream: string, socket: Socket, rest: Buffer): void {
    const reader = this.#readers.get(stream as OutputStream);
    if (reader) reader.attach(socket, rest);
    else socket.destroy();
  }

  /**
   * On `exit`: `done(outcome)` once every direct stream reached EOF, so `exit` still
   * comes after all output; a stream still held open after the drain timeout is closed
   * and the outcome says `drain: "timeout"`.
   */
  finish<O extends { drain: string }>(outcome: O, done: (outcome: O) => void): void {
    if (this.#readers.size === 0) return done(outcome);
    const readers = [...this.#readers.values()];
    void Promise.all(readers.map((r) => r.drain(this.#drainMs))).then((results) =>
      done(results.every((r) => r) ? outcome : { ...outcome, drain: "timeout" }),
    );
  }
}

/** Directories of live {@link DirectServer}s, removed when this process exits. */
const liveDirs = new Set<string>();
let exitHook = false;

/**
 * One Kennel's listening socket for direct streams, in a private 0700 directory
 * (`kennel-node-<pid>-<pid namespace>-XXXXXX` under the temp dir, or `/tmp` when the
 * temp dir's path is too long for a socket address), made on first use.
 * The directory goes on {@link close} and when this process exits; one left by a
 * process killed with SIGKILL is removed by the next client of the same user and PID
 * namespace that makes one.
 */
export class DirectServer {
  #server: Server | null = null;
  #dir: string | null = null;
  readonly #children = new Map<string, DirectStreams>();
  readonly #reportEof: (id: string, stream: OutputStream) => void;

  /** `reportEof` sends `eof` for a child's stream that ended. */
  constructor(reportEof: (id: string, stream: OutputStream) => void) {
    this.#reportEof = reportEof;
  }

  /**
   * After negotiation: each stream `req` still asks `"direct"` is read from this socket
   * (made now if needed) into the child's stream, and `req` names the socket and the
   * spawn's token. The child's `cleanup` forgets the token.
   */
  wire(req: SpawnRequest, st: { child: { id: string; stdout: Readable; stderr: Readable }; direct: DirectStreams; cleanup: (() => void)[] }): void {
    const { child, direct } = st;
    for (const stream of ["stdout", "stderr"] as const) {
      if (req[stream] === "direct") direct.expect(stream, child[stream], (s) => this.#reportEof(child.id, s));
    }
    if (!direct.any) return;
    req.direct_socket = this.#listen();
    req.direct_token = direct.token;
    this.#children.set(direct.token, direct);
    st.cleanup.push(() => this.#children.delete(direct.token));
  }

  /** Stops listening and removes the directory (idempotent). */
  close(): void {
    this.#server?.close();
    this.#server = null;
    if (this.#dir !== null) {
      rmSync(this.#dir, { recursive: true, force: true });
      liveDirs.delete(this.#dir);
      this.#dir = null;
    }
  }

  #listen(): string {
    if (this.#dir !== null) return join(this.#dir, "s");
    const base = socketBase();
    sweep(base);
    const dir = mkdtempSync(join(base, `${DIR_PREFIX}${process.pid}-${pidNamespace()}-`));
    const path = join(dir, "s");
    const server = createServer({ pauseOnConnect: false }, (socket) => this.#onConnection(socket));
    // Bound and listening when `listen` returns (a path, outside a cluster worker): the
    // sidecar may connect as soon as it reads the spawn.
    server.listen({ path, exclusive: true });
    server.unref();
    server.on("error", () => {});
    if (!exitHook) {
      exitHook = true;
      process.once("exit", () => {
        for (const d of liveDirs) rmSync(d, { recursive: true, force: true });
      });
    }
    liveDirs.add(dir);
    this.#server = server;
    this.#dir = dir;
    return path;
  }

  /** Reads the header line, then hands the connection to its child's stream. */
  #onConnection(socket: Socket): void {
    let head: Buffer = Buffer.alloc(0);
    socket.on("error", () => {});
    const onData = (chunk: Buffer) => {
      head = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
      const nl = head.indexOf(10);
      if (nl < 0) {
        if (head.length > MAX_HEADER_BYTES) socket.destroy();
        return;
      }
      socket.off("data", onData);
      socket.pause();
      let header: { token?: unknown; stream?: unknown };
      try {
        header = JSON.parse(head.subarray(0, nl).toString("utf8")) as typeof header;
      } catch {
        socket.destroy();
        return;
      }
      const streams = typeof header.token === "string" ? this.#children.get(header.token) : undefined;
      if (streams && typeof header.stream === "string") streams.attach(header.stream, socket, head.subarray(nl + 1));
      else socket.destroy();
    };
    socket.on("data", onData);
  }
}

/** The inode of this process's PID namespace (0 where there is none to read). */
function pidNamespace(): number {
  try {
    return statSync("/proc/self/ns/pid").ino;
  } catch {
    return 0;
  }
}

/**
 * The temp dir, unless a socket's path there would be too long for a socket address
 * (104 bytes on macOS, 108 on Linux; the name adds up to 50): then `/tmp`.
 */
function socketBase(): string {
  const base = tmpdir();
  return Buffer.byteLength(base) <= 50 ? base : "/tmp";
}

/** Removes the socket directories under `base` of this user's clients that are gone (SIGKILL), in this PID namespace only. */
function sweep(base: string): void {
  const ns = String(pidNamespace());
  const uid = process.getuid?.();
  let names: string[];
  try {
    names = readdirSync(base);
  } catch {
    return;
  }
  for (const name of names) {
    if (!name.startsWith(DIR_PREFIX)) continue;
    const [pid, dirNs] = name.slice(DIR_PREFIX.length).split("-");
    if (dirNs !== ns || !pid || !/^\d+$/.test(pid) || alive(Number(pid))) continue;
    const dir = join(base, name);
    try {
      const st = statSync(dir);
      if (st.isDirectory() && st.uid === uid) rmSync(dir, { recursive: true, force: true });
    } catch {
      // Gone meanwhile, or not ours to judge.
    }
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code !== "ESRCH";
  }
}

