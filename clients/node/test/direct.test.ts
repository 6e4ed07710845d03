// Direct output streams through the Node client: the child writes into a FIFO this
// client reads itself (docs/PROTOCOL.md, "Direct streams").
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Kennel } from "../src/index.js";
import { FIXTURE, KENNEL_BIN, binaryPattern, firstDiff, pidGone, waitUntil } from "../support/helpers.js";

const unix = process.platform !== "win32";

function collect(s: NodeJS.ReadableStream): Promise<Buffer> {
  const parts: Buffer[] = [];
  s.on("data", (c: Buffer) => parts.push(c));
  return new Promise((resolve, reject) => {
    s.once("end", () => resolve(Buffer.concat(parts)));
    s.once("error", reject);
  });
}

describe("direct streams", { skip: !unix && "FIFOs are Unix's; Windows pipes the stream" }, () => {
  test("every byte in order, and exit after the stream's end", async () => {
    const k = await Kennel.start({ bin: KENNEL_BIN });
    try {
      assert.ok(k.hello!.features.includes("direct_streams"), JSON.stringify(k.hello!.raw));
      const n = 32 << 20;
      const c = k.spawn(FIXTURE, ["binary", "--bytes", String(n), "--stderr"], { stdout: "direct", stderr: "direct" });
      const [out, err, outcome] = await Promise.all([
        collect(c.stdout),
        collect(c.stderr),
        c.outcome.then((o) => {
          assert.ok(c.stdout.readableEnded && c.stderr.readableEnded, "exit comes after both streams ended");
          return o;
        }),
      ]);
      const want = binaryPattern(n);
      assert.equal(firstDiff(out, want), -1, `stdout differs at ${firstDiff(out, want)}`);
      assert.equal(firstDiff(err, want), -1, `stderr differs at ${firstDiff(err, want)}`);
      assert.equal(outcome.code, 0);
      assert.equal(outcome.drain, "complete");
      // The sidecar never saw the bytes.
      assert.equal(outcome.stdout.bytes, 0);
    } finally {
      await k.close();
    }
  });

  test("output written before the client attached is kept; run() works the same", async () => {
    const k = await Kennel.start({ bin: KENNEL_BIN });
    try {
      for (let i = 0; i < 20; i++) {
        const r = await k.run(FIXTURE, ["print", `hi ${i}`, "--stderr", "err"], { stdout: "direct", stderr: "direct" });
        assert.equal(r.stdout.toString(), `hi ${i}\n`);
        assert.equal(r.stderr.toString(), "err\n");
        assert.equal(r.outcome.code, 0);
      }
    } finally {
      await k.close();
    }
  });

  test("a spawn sent before hello is negotiated when hello arrives", async () => {
    const k = Kennel.create({ bin: KENNEL_BIN });
    try {
      const r = await k.run(FIXTURE, ["print", "early"], { stdout: "direct", stderr: "direct" });
      assert.equal(r.stdout.toString(), "early\n");
      assert.equal(r.outcome.code, 0);
      assert.ok(k.hello!.features.includes("direct_streams"));
    } finally {
      await k.close();
    }
  });

  test("an unread direct child blocks alone; kill ends it and its exit still comes", async () => {
    const k = await Kennel.start({ bin: KENNEL_BIN });
    try {
      const flood = k.spawn(FIXTURE, ["flood", "--bytes", String(1 << 30)], { stdout: "direct" });
      const pid = await flood.spawned;
      flood.stdout.pause();
      for (let i = 0; i < 20; i++) {
        const r = await k.run(FIXTURE, ["print", "ok"], { stdout: "direct" });
        assert.equal(r.stdout.toString(), "ok\n");
      }
      await flood.kill();
      const o = await flood.outcome;
      assert.equal(o.reason, "killed");
      await waitUntil(() => pidGone(pid), "the flood to be gone");
    } finally {
      await k.close();
    }
  });

  test("a leftover holding the FIFO is ended by the teardown and EOF comes", async () => {
    const k = await Kennel.start({ bin: KENNEL_BIN });
    try {
      const c = k.spawn(FIXTURE, ["hold-pipe"], { stdout: "direct", stderr: "direct", drainTimeoutMs: 300 });
      const out = collect(c.stdout);
      const o = await c.outcome;
      assert.equal(o.code, 0);
      assert.equal(o.leftoversKilled.length, 1, JSON.stringify(o));
      const holder = Number(/pid (\d+) \d+ holder/.exec((await out).toString())![1]);
      assert.ok(o.leftoversKilled.includes(holder));
    } finally {
      await k.close();
    }
  });

  test("a writer that escaped the tree: the client closes the stream a drain timeout after exit", async () => {
    const k = await Kennel.start({ bin: KENNEL_BIN });
    let holder = 0;
    try {
      // The process group alone (macOS's containment): a `setsid` holder escapes it.
      const c = k.spawn(FIXTURE, ["hold-pipe", "--setsid"], {
        stdout: "direct",
        stderr: "null",
        drainTimeoutMs: 300,
        containment: { cgroup: false, subreaper: false },
      });
      const lines: string[] = [];
      c.stdout.on("data", (b: Buffer) => lines.push(b.toString()));
      const o = await c.outcome;
      holder = Number(/pid (\d+) \d+ holder/.exec(lines.join(""))?.[1] ?? 0);
      assert.ok(holder > 0 && !pidGone(holder), `the holder escaped and lives: ${lines.join("")}`);
      assert.equal(o.drain, "timeout", JSON.stringify(o.raw));
      // The stream ends (the FIFO was closed on our side), as a pipe's would at the drain timeout.
      await new Promise<void>((resolve) => (c.stdout.readableEnded ? resolve() : c.stdout.once("end", () => resolve())));
    } finally {
      if (holder > 0) process.kill(holder, "SIGKILL");
      await k.close();
    }
  });

  test("the FIFO is unlinked once attached, and the directory is gone after close", async () => {
    const k = await Kennel.start({ bin: KENNEL_BIN });
    const dir = fifoDir(k.sidecarPid!);
    try {
      assert.ok(existsSync(dir), `the sidecar's FIFO directory ${dir} exists`);
      const c = k.spawn(FIXTURE, ["sleep", "60000"], { stdout: "direct" });
      await c.spawned;
      // Attached (the client opened it): nothing is left in the directory.
      await waitUntil(() => readdirSync(dir).length === 0, "the FIFO to be unlinked");
      await c.kill();
      await c.outcome;
    } finally {
      await k.close();
    }
    assert.ok(!existsSync(dir), `${dir} is removed when the sidecar exits`);
  });

  test("direct with caps is refused with a clear error", async () => {
    const k = await Kennel.start({ bin: KENNEL_BIN });
    try {
      const c = k.spawn(FIXTURE, ["print", "x"], { stdout: "direct", caps: { stdout: { bytes: 1 } } });
      await assert.rejects(c.outcome, (e: Error & { code?: string }) => e.code === "invalid_field" && /stdout_cap/.test(e.message));
    } finally {
      await k.close();
    }
  });
});

/** The FIFO directory of the sidecar `pid` (`kennel-serve-<pid>-<random>`). */
function fifoDir(pid: number): string {
  const xdg = process.env["XDG_RUNTIME_DIR"];
  const base = xdg && existsSync(xdg) ? xdg : tmpdir();
  const names = readdirSync(base).filter((n) => n.startsWith(`kennel-serve-${pid}-`));
  assert.equal(names.length, 1, `one FIFO directory for sidecar ${pid} in ${base}: ${names.join(", ")}`);
  return join(base, names[0]!);
}
