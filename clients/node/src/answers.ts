/**
 * The requests on children waiting for their answer: by `req` tag (`ack`, `written` or
 * `error` naming the tag), or — with sidecars older than `req` tags — by a `list` barrier
 * sent after them (its reply means every request before it was handled).
 */
import type { KennelChild } from "./child.js";
import type { KennelError } from "./errors.js";
import type { CancelRequest, CloseStdinRequest, EofRequest, KillRequest, Request, SignalRequest } from "./protocol.js";
import { deferred, type Deferred, type Json } from "./wire.js";

/** The requests on a child answered by `ack` (or `error`). */
export type AnsweredRequest = CancelRequest | CloseStdinRequest | EofRequest | KillRequest | SignalRequest;

/** A request tagged with `req`, waiting for its `ack` / `written` / `error`. */
interface PendingReq {
  childId: string;
  op: string;
  done: Deferred<void>;
}

/** A request waiting for the `list` reply that follows it (sidecars without `req` tags). */
export interface Barrier {
  childId: string | undefined;
  op: string;
  done: Deferred<void>;
  onList?: (ev: Json) => void;
}

/**
 * Every request waiting for an answer. Each one counts as busy (keeps the event loop
 * alive) until settled; `busy(-1)` is called as each settles (a `write` part is counted
 * by its child's `_writes`).
 */
export class Answers {
  readonly #reqs = new Map<string, PendingReq>();
  readonly #barriers = new Map<string, Barrier>();
  readonly #busy: (n: number) => void;
  readonly #child: (id: string) => KennelChild | undefined;
  readonly #send: (req: Request) => void;

  /** `child` finds a live child by id; `send` sends a request (or throws why it cannot). */
  constructor(busy: (n: number) => void, child: (id: string) => KennelChild | undefined, send: (req: Request) => void) {
    this.#busy = busy;
    this.#child = child;
    this.#send = send;
  }

  /**
   * Sends a request on a child and waits for its answer: the event carrying `tag`, or
   * (no tag: a sidecar without `req` tags) the reply to a `list` barrier `barrierId` sent
   * after it.
   */
  request(req: AnsweredRequest, childId: string, tag: string | undefined, barrierId = ""): Promise<void> {
    try {
      this.#send(tag !== undefined ? { ...req, req: tag } : req);
    } catch (e) {
      return Promise.reject(e);
    }
    const done = deferred<void>();
    if (tag !== undefined) this.#reqs.set(tag, { childId, op: req.op, done });
    else this.#barriers.set(barrierId, { childId, op: req.op, done });
    this.#busy(1);
    if (tag === undefined) this.#send({ op: "list", id: barrierId });
    return done.promise;
  }

  /** Waits for the answer carrying `tag`. */
  tagged(tag: string, childId: string, op: string, done: Deferred<void>): void {
    this.#reqs.set(tag, { childId, op, done });
  }

  /** Waits for the `list` reply with this id. */
  barrier(id: string, b: Barrier): void {
    this.#barriers.set(id, b);
  }

  /** `written`: settles the tagged write part, or the child's oldest one. */
  written(child: KennelChild, tag: string | undefined): void {
    const p = this.#take(tag);
    const writes = child._writes;
    const i = p ? writes.indexOf(p.done) : 0;
    const d = i >= 0 ? writes.splice(i, 1)[0] : undefined;
    if (d) {
      d.resolve();
      this.#busy(-1);
    }
  }

  /** `ack` of a tagged request. */
  ack(tag: string | undefined): void {
    const p = this.#take(tag);
    if (!p) return;
    p.done.resolve();
    this.#busy(-1);
  }

  /** `list`: the barrier with its id is passed. */
  list(id: string | undefined, ev: Json): void {
    const b = id !== undefined ? this.#barriers.get(id) : undefined;
    if (!b) return;
    this.#barriers.delete(id!);
    b.onList?.(ev);
    b.done.resolve();
    this.#busy(-1);
  }

  /**
   * An `error` (not of a spawn) naming child `id` (live: `child`), operation `op` and `tag`:
   * rejects the request it answers. Returns false if it answers none.
   */
  error(err: KennelError, id: string | undefined, child: KennelChild | undefined, op: string | undefined, tag: string | undefined): boolean {
    const p = this.#take(tag);
    if (p) {
      if (p.op === "write" && child) {
        const i = child._writes.indexOf(p.done);
        if (i >= 0) child._writes.splice(i, 1);
      }
      // unknown_id after the child's exit: the request raced the exit, nothing to do.
      this.#settle(p.done, err, p.op !== "write" && this.#raced(err, p.childId));
      return true;
    }
    if (child && op === "write") {
      const d = child._writes.shift();
      if (d) {
        d.reject(err);
        this.#busy(-1);
        return true;
      }
    }
    if (id === undefined || op === undefined) return false;
    // An op without a success reply: reject the oldest barrier waiting for it.
    for (const [bid, b] of this.#barriers) {
      if (b.childId === id && b.op === op && !b.done.settled) {
        this.#barriers.delete(bid);
        this.#settle(b.done, err, this.#raced(err, id));
        return true;
      }
    }
    return false;
  }

  /** Child `childId` ended (`err`: it failed): every answer comes before `exit`, so what still waits lost its child. */
  childGone(childId: string, err: KennelError | undefined): void {
    for (const [tag, p] of this.#reqs) {
      if (p.childId !== childId) continue;
      this.#reqs.delete(tag);
      if (p.op === "write") continue; // counted with the child's _writes
      if (err) p.done.reject(err);
      else p.done.resolve();
      this.#busy(-1);
    }
  }

  /** The sidecar is gone: reject everything. */
  fail(err: KennelError): void {
    for (const b of this.#barriers.values()) b.done.reject(err);
    this.#busy(-this.#barriers.size);
    this.#barriers.clear();
    for (const p of this.#reqs.values()) p.done.reject(err);
    this.#busy(-this.#reqs.size);
    this.#reqs.clear();
  }

  #take(tag: string | undefined): PendingReq | undefined {
    const p = tag !== undefined ? this.#reqs.get(tag) : undefined;
    if (p) this.#reqs.delete(tag!);
    return p;
  }

  /** `unknown_id` for a child that has exited: the request raced the exit. */
  #raced(err: KennelError, childId: string): boolean {
    const child = this.#child(childId);
    return err.code === "unknown_id" && (child === undefined || child.done || child._exited);
  }

  #settle(done: Deferred<void>, err: KennelError, resolve: boolean): void {
    if (resolve) done.resolve();
    else done.reject(err);
    this.#busy(-1);
  }
}
