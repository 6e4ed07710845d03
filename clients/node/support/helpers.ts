// Shared helpers of the tests. They run against the REAL sidecar: KENNEL_BIN must point at
// a built `kennel`, and `kennel-fixture` must sit beside it (same cargo target dir).
import { existsSync, readFileSync } from "node:fs";
import * as path from "node:path";
import type { Readable } from "node:stream";
import { after, before } from "node:test";
import { Kennel } from "../src/index.js";

function requireBin(): string {
  const bin = process.env["KENNEL_BIN"];
  if (!bin) {
    throw new Error(
      "KENNEL_BIN is not set: build with `cargo build -p kennel-cli -p kennel-tests --bins` and set " +
        "KENNEL_BIN=<target>/debug/kennel (cargo xtask test does this)",
    );
  }
  if (!existsSync(bin)) throw new Error(`KENNEL_BIN=${bin} does not exist`);
  return bin;
}

/** The sidecar binary under test. */
export const KENNEL_BIN = requireBin();

/** The fixture program, beside the sidecar binary. Missing: fail loudly. */
export const FIXTURE = path.join(path.dirname(KENNEL_BIN), "kennel-fixture");
if (!existsSync(FIXTURE)) {
  throw new Error(`kennel-fixture not found at ${FIXTURE} (build it: cargo build -p kennel-tests --bins, same target dir as KENNEL_BIN)`);
}

/**
 * One sidecar for the tests of the enclosing `describe` (or of the file): started before
 * them (and handed to `use`), closed after them.
 */
export function sidecarForTests(use: (k: Kennel) => void): void {
  let k: Kennel | undefined;
  before(async () => {
    k = await Kennel.start({ bin: KENNEL_BIN });
    use(k);
  });
  after(async () => {
    await k?.close();
  });
}

/** Is the process gone (no /proc entry, i.e. exited and reaped)? */
export function pidGone(pid: number): boolean {
  if (existsSync("/proc/self/stat")) return !existsSync(`/proc/${pid}`);
  try {
    process.kill(pid, 0);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "ESRCH";
  }
}

/** Poll until `cond()` holds; throws after `timeoutMs` with `what`. */
export async function waitUntil(cond: () => boolean, what: string, timeoutMs = 15000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Wait until every pid is gone (with a deadline). */
export async function waitGone(pids: number[], timeoutMs = 15000): Promise<void> {
  await waitUntil(() => pids.every(pidGone), `pids ${pids.filter((p) => !pidGone(p)).join(" ")} to be gone`, timeoutMs);
}

/** Collects a stream and lets a test wait for conditions on what arrived so far. */
export class Collector {
  chunks: Buffer[] = [];
  ended = false;
  readonly done: Promise<Buffer>;
  constructor(readonly stream: Readable) {
    this.done = new Promise((res, rej) => {
      stream.on("data", (c: Buffer) => this.chunks.push(c));
      stream.on("end", () => {
        this.ended = true;
        res(this.buffer());
      });
      stream.on("error", rej);
    });
  }
  buffer(): Buffer {
    return Buffer.concat(this.chunks);
  }
  text(): string {
    return this.buffer().toString("utf8");
  }
  /** Fixture handshake lines `pid <pid> <ppid> <role>`. */
  pidLines(): { pid: number; ppid: number; role: string }[] {
    return this.text()
      .split("\n")
      .filter((l) => l.startsWith("pid "))
      .map((l) => {
        const [, pid, ppid, role] = l.split(" ");
        return { pid: Number(pid), ppid: Number(ppid), role: role ?? "" };
      });
  }
  /** Wait for `n` pid lines; returns the pids. */
  async pids(n: number, timeoutMs = 15000): Promise<number[]> {
    await waitUntil(() => this.pidLines().length >= n || this.ended, `${n} pid lines (got: ${JSON.stringify(this.text())})`, timeoutMs);
    const pids = this.pidLines().map((l) => l.pid);
    if (pids.length < n) throw new Error(`stream ended after ${pids.length} of ${n} pid lines: ${JSON.stringify(this.text())}`);
    return pids;
  }
}

/** The fixture's text pattern: record i is `format!("{:015}\n", i)`. */
export function textPattern(n: number): Buffer {
  const out = Buffer.alloc(n);
  let off = 0;
  for (let i = 0; off < n; i++) {
    off += out.write(String(i).padStart(15, "0") + "\n", off, "latin1");
  }
  return out;
}

const BINARY_TEMPLATE = [
  0x82, 0xac, 0, 0, 0, 0, 0, 0, 0, 0, 0x00, 0xff, 0xfe, 0xc3, 0x28, 0xe2, 0x82, 0xac, 0xf0, 0x9f, 0x98, 0x41, 0xed, 0xa0,
  0x80, 0xc0, 0xaf, 0x0a, 0xc3, 0xa9, 0x0d, 0xe2,
];

/** The fixture's binary pattern (32-byte records carrying their index, invalid UTF-8 galore). */
export function binaryPattern(n: number): Buffer {
  const recs = Math.ceil(n / 32);
  const out = Buffer.alloc(recs * 32);
  for (let i = 0; i < recs; i++) {
    const o = i * 32;
    for (let j = 0; j < 32; j++) out[o + j] = BINARY_TEMPLATE[j]!;
    out.writeBigUInt64LE(BigInt(i), o + 2);
  }
  return out.subarray(0, n);
}

/** First differing offset of two buffers, for readable assertion messages. */
export function firstDiff(a: Buffer, b: Buffer): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : n;
}

/** Linux process state letter (`R`, `S`, `T`, `Z`…), or null if gone / not Linux. */
export function procState(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
  } catch {
    return null;
  }
}
