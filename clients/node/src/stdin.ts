/**
 * Pacing of stdin `write` parts to the sidecar's stdin queue bound (docs/PROTOCOL.md,
 * "write"): at most 8 MiB per child and 64 MiB for all children may wait to enter stdin
 * pipes, and a `write` past either bound is refused whole with `stdin_full`. The client
 * sends a part only when the sidecar must accept it (its counts here are never below the
 * sidecar's: a part is counted from its sending until its answer), and keeps the rest
 * queued in order — like `child_process`, which buffers what a pipe cannot take yet. A
 * `close_stdin` waits behind the parts not yet sent.
 */
import type { WriteRequest } from "./protocol.js";
import type { Deferred } from "./wire.js";

/** The sidecar's bound per child (`STDIN_QUEUE_PER_CHILD` in `serve/hub.rs`). */
export const STDIN_QUEUE_PER_CHILD = 8 * 1024 * 1024;
/** The sidecar's bound for all children together (`STDIN_QUEUE_TOTAL`). */
export const STDIN_QUEUE_TOTAL = 64 * 1024 * 1024;

/**
 * A `write` part: its request, made when the part is sent (a queued part holds a view
 * of the caller's bytes, not their base64 text), its payload's size in bytes, and what
 * its answer settles.
 */
export interface StdinPart {
  req: () => WriteRequest;
  bytes: number;
  done: Deferred<void>;
}

/** The bytes in flight over one sidecar, and the children waiting for room in it. */
export class StdinBudget {
  /** Bytes sent in `write` parts and not yet answered, all children together. */
  inFlight = 0;
  readonly #waiting = new Set<ChildStdin>();

  /** `c` waits for the total to shrink. */
  wait(c: ChildStdin): void {
    this.#waiting.add(c);
  }

  /** `n` bytes were answered: the waiting children send what now fits, oldest first. */
  release(n: number): void {
    this.inFlight -= n;
    for (const c of [...this.#waiting]) {
      this.#waiting.delete(c);
      c.pump();
    }
  }
}

/** One child's stdin parts: sent while they fit, queued in order otherwise. */
export class ChildStdin {
  readonly #budget: StdinBudget;
  readonly #send: (p: StdinPart) => void;
  readonly #queue: StdinPart[] = [];
  readonly #drained: Array<() => void> = [];
  /** This child's bytes sent and not yet answered. */
  #inFlight = 0;

  /** `send` writes one part to the sidecar (and throws if it cannot). */
  constructor(budget: StdinBudget, send: (p: StdinPart) => void) {
    this.#budget = budget;
    this.#send = send;
  }

  /** Queue `parts` behind the ones not yet sent and send what fits. */
  push(parts: StdinPart[]): void {
    this.#queue.push(...parts);
    this.pump();
  }

  /** Send the queued parts while the sidecar must accept them. */
  pump(): void {
    while (this.#queue.length > 0) {
      const p = this.#queue[0]!;
      // The sidecar's rule: a write is accepted when nothing of this child waits, or
      // when it fits both bounds.
      const childFits = this.#inFlight + p.bytes <= STDIN_QUEUE_PER_CHILD;
      const totalFits = this.#budget.inFlight + p.bytes <= STDIN_QUEUE_TOTAL;
      if (this.#inFlight > 0 && !(childFits && totalFits)) {
        // Room comes back with this child's own answers, or with any child's if only the
        // total is short.
        if (childFits) this.#budget.wait(this);
        return;
      }
      this.#queue.shift();
      try {
        this.#send(p);
      } catch (e) {
        p.done.reject(e);
        continue;
      }
      this.#inFlight += p.bytes;
      this.#budget.inFlight += p.bytes;
      const settled = () => {
        this.#inFlight -= p.bytes;
        this.#budget.release(p.bytes);
        this.pump();
      };
      p.done.promise.then(settled, settled);
    }
    for (const f of this.#drained.splice(0)) f();
  }

  /** True when no part waits to be sent. */
  get idle(): boolean {
    return this.#queue.length === 0;
  }

  /** Resolves once every part queued so far was sent (or failed). */
  allSent(): Promise<void> {
    if (this.#queue.length === 0) return Promise.resolve();
    return new Promise((res) => this.#drained.push(res));
  }

  /** Removes the parts not yet sent (their child is gone), and lets `end()` go on. */
  takeUnsent(): StdinPart[] {
    const parts = this.#queue.splice(0);
    for (const f of this.#drained.splice(0)) f();
    return parts;
  }
}

/** One budget per sidecar connection (keyed by its Kennel). */
const budgets = new WeakMap<object, StdinBudget>();

/** The stdin budget shared by the children of `kennel`. */
export function budgetOf(kennel: object): StdinBudget {
  let b = budgets.get(kennel);
  if (b === undefined) {
    b = new StdinBudget();
    budgets.set(kennel, b);
  }
  return b;
}
