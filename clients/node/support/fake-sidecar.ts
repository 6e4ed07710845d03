// A scripted stand-in for `kennel serve`, to test the client's frame parser on byte
// layouts a real sidecar produces only by chance: frame headers and event lines split
// across reads, several items in one read, frames of unknown children, bad frames.
// Usage: node fake-sidecar.js <scenario>. It answers the first `spawn` request with the
// scenario's byte sequence, written piece by piece with a pause between pieces.
import { createInterface } from "node:readline";
import { pathToFileURL } from "node:url";

const scenario = process.argv[2] ?? "split";

function frame(stream: number, id: string, payload: Buffer): Buffer {
  const idBytes = Buffer.from(id, "utf8");
  const head = Buffer.alloc(8);
  head[0] = 0x00;
  head[1] = stream;
  head.writeUInt16BE(idBytes.length, 2);
  head.writeUInt32BE(payload.length, 4);
  return Buffer.concat([head, idBytes, payload]);
}

function line(ev: Record<string, unknown>): Buffer {
  return Buffer.from(JSON.stringify(ev) + "\n", "utf8");
}

/** The payloads the scenario sends; the test checks them against the same function. */
export function payloads(): { out: Buffer; err: Buffer } {
  const out = Buffer.alloc(70000);
  for (let i = 0; i < out.length; i++) out[i] = (i * 7 + 3) & 0xff;
  return { out, err: Buffer.from([0xff, 0x00, 0x0a, 0xc3]) };
}

const pause = () => new Promise((r) => setTimeout(r, 2));

async function write(pieces: Buffer[]): Promise<void> {
  for (const p of pieces) {
    if (p.length > 0) process.stdout.write(p);
    await pause();
  }
}

/** Cuts `buf` at every offset in `cuts`. */
function cut(buf: Buffer, cuts: number[]): Buffer[] {
  const out: Buffer[] = [];
  let last = 0;
  for (const c of cuts) {
    out.push(buf.subarray(last, c));
    last = c;
  }
  out.push(buf.subarray(last));
  return out;
}

async function answer(req: Record<string, unknown>): Promise<void> {
  const id = String(req["id"]);
  const { out, err } = payloads();
  if (req["framing"] !== "binary") {
    const message = `the client did not ask for binary frames (framing: ${JSON.stringify(req["framing"])})`;
    await write([line({ event: "error", code: "spawn_failed", message, id, op: "spawn" })]);
    return;
  }
  const spawned = line({ event: "spawned", id, pid: 1, containment: "group" });
  if (scenario === "bad") {
    await write([spawned, Buffer.from([0x00, 0x09, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01]), Buffer.from(id + "x")]);
    return;
  }
  const exit = line({
    event: "exit", id, pid: 1, code: 0, signal: null, signal_name: null, reason: "exited", ladder_step: null,
    forced: false, wall_time_ms: 1, stdout: { bytes: out.length, dropped: 0, cap_hit: false },
    stderr: { bytes: err.length, dropped: 0, cap_hit: false }, drain: "complete", leftovers_killed: [],
    containment: "group", errors: [],
  });
  const f1 = frame(1, id, out.subarray(0, 40000));
  const f2 = frame(2, id, err);
  const f3 = frame(1, id, out.subarray(40000));
  const stray = frame(1, "nobody", Buffer.from("ignored"));
  // One byte at a time through the first header; the second frame and a stray frame
  // glued to the end of the first; the last frame's header split after 3 and 9 bytes;
  // `exit` glued to the last payload's tail.
  const headLen = 8 + Buffer.byteLength(id);
  const firstHeader = [...Array(headLen).keys()].map((i) => f1.subarray(i, i + 1));
  await write([
    spawned,
    ...firstHeader,
    f1.subarray(headLen, 20000),
    Buffer.concat([f1.subarray(20000), f2, stray, f3.subarray(0, 3)]),
    f3.subarray(3, 9),
    f3.subarray(9, 5000),
    Buffer.concat([f3.subarray(5000), exit.subarray(0, 10)]),
    ...cut(exit.subarray(10), [5]),
  ]);
}

function main(): void {
const hello = {
  event: "hello", protocol: 1, kennel: "0.0.0-fake", platform: process.platform, containment: ["group"],
  max_line_bytes: 1048576, max_children: 16, framings: ["json", "binary"], max_frame_bytes: 1048576,
};
process.stdout.write(JSON.stringify(hello) + "\n");
const rl = createInterface({ input: process.stdin });
let chain = Promise.resolve();
rl.on("line", (l) => {
  const req = JSON.parse(l) as Record<string, unknown>;
  if (req["op"] === "spawn") chain = chain.then(() => answer(req));
});
rl.on("close", () => {
  void chain.then(() => process.stdout.write(JSON.stringify({ event: "bye", reason: "eof" }) + "\n"));
});
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) main();
