// Binary data frames: the client opts in when the sidecar offers them, payloads are
// byte-exact however the reads cut the frames, and the JSON path still works.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { Kennel, KennelError } from "../src/index.js";
import { run } from "../src/process.js";
import { Collector, FIXTURE, KENNEL_BIN, binaryPattern, firstDiff, sidecarForTests } from "../support/helpers.js";
import { payloads } from "../support/fake-sidecar.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const FAKE = path.join(here, "..", "support", "fake-sidecar.js");

describe("framing against the real sidecar", () => {
  let k: Kennel;
  sidecarForTests((started) => (k = started));

  test("hello offers binary frames", () => {
    assert.deepEqual(k.hello!.framings, ["json", "binary"]);
    assert.ok(k.hello!.maxFrameBytes >= 65536);
  });

  test("50 MiB of binary on stdout and stderr, byte-exact through frames", async () => {
    const n = 50 * 1024 * 1024;
    const c = k.spawn(FIXTURE, ["binary", "--bytes", String(n), "--chunk", "65500", "--stderr"]);
    const out = new Collector(c.stdout);
    const err = new Collector(c.stderr);
    const o = await c.outcome;
    assert.equal(o.code, 0);
    const expected = binaryPattern(n);
    for (const [name, got] of [["stdout", await out.done], ["stderr", await err.done]] as const) {
      assert.equal(got.length, n, `${name} length`);
      assert.equal(firstDiff(got, expected), -1, `${name} first difference`);
    }
    assert.equal(o.stdout.bytes, n);
  });

  test("a Kennel with framing: json gets the same bytes as JSON events", async () => {
    const j = await Kennel.start({ bin: KENNEL_BIN, framing: "json" });
    try {
      const n = 3 * 1024 * 1024 + 7;
      const r = await j.run(FIXTURE, ["binary", "--bytes", String(n), "--chunk", "1000"]);
      assert.equal(r.outcome.code, 0);
      assert.equal(firstDiff(r.stdout, binaryPattern(n)), -1);
    } finally {
      await j.close();
    }
  });

  test("kennel/process run is byte-exact through the default (framed) Kennel", async () => {
    const n = 8 * 1024 * 1024 + 3;
    const r = await run([FIXTURE, "binary", "--bytes", String(n)]);
    assert.equal(r.code, 0);
    assert.equal(firstDiff(r.stdout, binaryPattern(n)), -1);
  });
});

describe("frame parser against a scripted sidecar", () => {
  test("headers and lines split across reads, items glued together, a stray frame", async () => {
    const f = await Kennel.start({ bin: process.execPath, args: [FAKE, "split"] });
    try {
      // A spawn request sent after hello carries framing: binary (else the fake refuses).
      const r = await f.run("anything");
      const { out, err } = payloads();
      assert.equal(r.outcome.code, 0);
      assert.equal(firstDiff(r.stdout, out), -1);
      assert.equal(firstDiff(r.stderr, err), -1);
    } finally {
      await f.close();
    }
  });

  test("requests queued before hello opt in too", async () => {
    const f = Kennel.create({ bin: process.execPath, args: [FAKE, "split"] });
    try {
      const c = f.spawn("anything");
      const out = new Collector(c.stdout);
      assert.equal((await c.outcome).code, 0);
      assert.equal(firstDiff(await out.done, payloads().out), -1);
    } finally {
      await f.close();
    }
  });

  test("a malformed frame fails the Kennel loudly", async () => {
    const f = await Kennel.start({ bin: process.execPath, args: [FAKE, "bad"] });
    const c = f.spawn("anything");
    await assert.rejects(c.outcome, (e: unknown) => e instanceof KennelError && e.code === "invalid_event" && /frame/.test(e.message));
    assert.equal(f.failure?.code, "invalid_event");
    await f.close().catch(() => {});
  });
});
