// Large stdin writes to children that read late: the client paces its `write` parts to the
// sidecar's stdin queue bound (8 MiB per child, 64 MiB in all; src/stdin.ts) instead of
// sending them all and having the rest refused with `stdin_full`. Each child sleeps before
// it reads, so every write here meets the bound.
import { createHash } from "node:crypto";
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Kennel, KennelError } from "../src/index.js";
import { run, spawn } from "../src/process.js";
import { Collector, sidecarForTests } from "../support/helpers.js";

const NODE = process.execPath;
const MiB = 1024 * 1024;

/** A child that starts reading after `delayMs`, then prints the byte count and sha256 of its stdin. */
function lateReader(delayMs: number): string[] {
  const script = [
    "const h = require('node:crypto').createHash('sha256'); let n = 0;",
    `setTimeout(() => process.stdin.on('data', (c) => { n += c.length; h.update(c); })`,
    `  .on('end', () => console.log(n + ' ' + h.digest('hex'))), ${delayMs});`,
  ].join("\n");
  return ["-e", script];
}

/** Distinct bytes per payload, so a lost or reordered part changes the digest. */
function payload(bytes: number, seed: number): Buffer {
  const b = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i += 4) b.writeUInt32LE((i * 2654435761 + seed) >>> 0, i);
  return b;
}

const digest = (b: Buffer) => `${b.length} ${createHash("sha256").update(b).digest("hex")}`;

let k: Kennel;
sidecarForTests((started) => (k = started));

describe("stdin pacing", { timeout: 180_000 }, () => {
  test("64 MiB in one write() to a child that reads after 1 s: every byte, in order", async () => {
    const data = payload(64 * MiB, 1);
    const child = k.spawn(NODE, lateReader(1000), { stdin: "pipe" });
    const out = new Collector(child.stdout);
    await child.write(data);
    await child.end();
    const o = await child.outcome;
    assert.equal(o.code, 0);
    assert.equal((await out.done).toString().trim(), digest(data));
  });

  test("twelve children each given 12 MiB at once (past the 64 MiB total): all of it arrives", async () => {
    const datas = Array.from({ length: 12 }, (_, i) => payload(12 * MiB, 100 + i));
    const results = await Promise.all(
      datas.map(async (data) => {
        const child = k.spawn(NODE, lateReader(500), { stdin: "pipe" });
        const out = new Collector(child.stdout);
        await Promise.all([child.write(data).then(() => child.end()), child.outcome]);
        return (await out.done).toString().trim();
      }),
    );
    results.forEach((r, i) => assert.equal(r, digest(datas[i]!), `child ${i}`));
  });

  test("a child that exits with parts still queued: its write rejects, and the room comes back", async () => {
    const gone = k.spawn(NODE, ["-e", "process.exit(3)"], { stdin: "pipe" });
    const refused = gone.write(payload(64 * MiB, 7));
    await assert.rejects(refused, (e: unknown) => e instanceof KennelError && ["child_exited", "stdin_closed"].includes(e.code));
    assert.equal((await gone.outcome).code, 3);
    // The queued parts were dropped with their child: a later child has the whole budget.
    const data = payload(40 * MiB, 8);
    const r = await k.run(NODE, lateReader(200), { input: data });
    assert.equal(r.stdout.toString().trim(), digest(data));
  });

  test("write after end() is refused at once, and end() still closes after the queued parts", async () => {
    const data = payload(24 * MiB, 9);
    const child = k.spawn(NODE, lateReader(300), { stdin: "pipe" });
    const out = new Collector(child.stdout);
    const written = child.write(data);
    const ended = child.end();
    await assert.rejects(child.write("late"), (e: unknown) => e instanceof KennelError && e.code === "stdin_closed");
    await Promise.all([written, ended, child.outcome]);
    assert.equal((await out.done).toString().trim(), digest(data));
  });
});

describe("stdin pacing through the drop-in", { timeout: 180_000 }, () => {
  // The shape of the flaky user-reports test: the drop-in's stdin Writable, no 'error'
  // listener, a write far past the bound. A refused part was an uncaught `stdin_full`.
  test("64 MiB through child.stdin with no 'error' listener, read after 1 s: all of it", async () => {
    const data = payload(64 * MiB, 2);
    const child = spawn([NODE, ...lateReader(1000)], { stdin: "pipe", stdout: "pipe" });
    child.stdin!.write(data);
    child.stdin!.end();
    const [code, out] = await Promise.all([child.exited, new Collector(child.stdout!).done]);
    assert.equal(code, 0);
    assert.equal(out.toString().trim(), digest(data));
  });

  test("run() with 64 MiB of input to a child that reads after 1 s: all of it", async () => {
    const data = payload(64 * MiB, 3);
    const r = await run([NODE, ...lateReader(1000)], { input: data });
    assert.equal(r.code, 0);
    assert.equal(r.stdout.toString().trim(), digest(data));
  });
});
