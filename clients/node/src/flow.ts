/**
 * Per-child, per-stream flow control (see docs/PROTOCOL.md, "Flow control", and DECISIONS,
 * "Flow control"): the sidecar sends at most a window of a stream's bytes beyond what was
 * returned with `credit`; this client returns credit as the stream's consumer reads.
 */
import { Readable } from "node:stream";
import type { CreditRequest, OutputStream } from "./protocol.js";

/**
 * Credit goes back once a 1/CREDIT_FRACTION of the window was read, so the sidecar keeps
 * 3/4 of a window of room while the credit travels (see DECISIONS, "Flow control").
 */
const CREDIT_FRACTION = 4;

/** Flow-control state of one output stream of a child. */
interface Flow {
  childId: string;
  stream: OutputStream;
  /** Bytes received for the stream. */
  received: number;
  /** Bytes returned to the sidecar with `credit` (or not to be returned: no flow control). */
  returned: number;
  /** The stream's window (0: no flow control for this child). */
  window: number;
}

/** The output streams of every live child, and the credit owed for each. */
export class Flows {
  readonly #flows = new Map<Readable, Flow>();
  readonly #send: (req: CreditRequest) => void;
  readonly #live: () => boolean;

  /** `send` writes a `credit` request; credit is returned only while `live()`. */
  constructor(send: (req: CreditRequest) => void, live: () => boolean) {
    this.#send = send;
    this.#live = live;
  }

  /**
   * A child's output stream. Credit is returned as its consumer reads: `read` is called
   * whenever the stream wants more (its buffer fell below the high-water mark), and after
   * every push; a stream destroyed unread returns all it gets at once.
   */
  stream(childId: string, stream: OutputStream): Readable {
    const s: Readable = new Readable({
      // `read` runs before the consumer takes the buffered bytes: count them just after.
      read: () => process.nextTick(() => this.credit(s)),
    });
    this.#flows.set(s, { childId, stream, received: 0, returned: 0, window: 0 });
    s.on("close", () => this.credit(s));
    return s;
  }

  /** Starts counting credit for these streams, once their spawn asked for `window`. */
  start(streams: Readable[], window: number | undefined): void {
    if (typeof window !== "number") return;
    for (const s of streams) {
      const f = this.#flows.get(s);
      if (f) f.window = window;
    }
  }

  /**
   * Output bytes for a stream. Never pauses the sidecar: the child's window bounds what
   * can arrive unread, and credit goes back as the consumer reads.
   */
  push(s: Readable, bytes: Buffer): void {
    const f = this.#flows.get(s);
    if (f) f.received += bytes.length;
    s.push(bytes);
    // A flowing consumer took it synchronously.
    this.credit(s);
  }

  /**
   * Returns credit for what the consumer of `s` has read, once that is a quarter of a
   * window (so the sidecar always has room to send while the consumer keeps up), or
   * everything received once nobody will read `s` any more.
   */
  credit(s: Readable): void {
    const f = this.#flows.get(s);
    if (!f || f.window === 0 || !this.#live()) return;
    const gone = s.destroyed || s.readableEnded;
    const consumed = gone ? f.received : f.received - s.readableLength;
    const owed = consumed - f.returned;
    // The sidecar sends exactly a window, then waits: return whatever was read.
    const stalled = f.received - f.returned >= f.window;
    if (owed <= 0 || (!gone && !stalled && owed < f.window / CREDIT_FRACTION)) return;
    f.returned += owed;
    this.#send({ op: "credit", id: f.childId, stream: f.stream, bytes: owed });
  }

  /** No more data will come for `s`: no more credit to return. */
  end(s: Readable): void {
    this.#flows.delete(s);
  }

  /** Forget every stream (the sidecar is gone). */
  clear(): void {
    this.#flows.clear();
  }
}
