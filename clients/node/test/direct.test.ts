// Direct output streams through the Node client: the child writes into a connection to
// this client's own UNIX socket, which it reads itself (docs/PROTOCOL.md, "Direct streams").
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn as cpSpawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Kennel } from "../src/index.js";
import { FIXTURE, KENNEL_BIN, binaryPattern, firstDiff, pidGone, procState, waitUntil } from "../support/helpers.js";

const unix = process.platform !== "win32";

function collect(s: NodeJS.ReadableStream): Promise<Buffer> {
  const parts: Buffer[] = [];
  s.on("data", (c: Buffer) => parts.push(c));
  return new Promise((resolve, reject) => {
    s.once("end", () => resolve(Buffer.concat(parts)));
    s.once("error", reject);
  });
}

/** The socket directories of the clients in process `pid`. */
function socketDirs(pid: number): string[] {
  return readdirSync(tmpdir())
    .filter((n) => n.startsWith(`kennel-node-${pid}-`))
    .map((n) => join(tmpdir(), n));
}

/** Gone, or a zombie nobody reaps (a dead client's sidecar is reparented to pid 1). */
function ended(pid: number): boolean {
  const state = procState(pid);
  return state === null || state === "Z" || state === "X";
}

describe("direct streams", { skip: !unix && "UNIX sockets are Unix's; Windows pipes the stream" }, () => {
  test("every byte in order, and exit after the stream's end", async () => {
    const k = await Kennel.start({ bin: KENNEL_BIN });
    try {
      assert.ok(k.hello!.features.includes("direct_sockets"), JSON.stringify(k.hello!.raw));
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

  test("output written before the client reads is kept; run() works the same", async () => {
    const k = await Kennel.start({ bin: KENNEL_BIN });
    try {
      for (let i = 0; i < 20; i++) {
        const r = await k.run(FIXTURE, ["print", `hi ${i}`, "--stderr", "err"], { stdout: "direct", stderr: "direct" });
        assert.equal(r.stdout.toString(), `hi ${i}\n`);
        assert.equal(r.stderr.toString(), "err\n");
        assert.equal(r.outcome.code, 0);
        assert.equal(r.outcome.drain, "complete");
      }
      // Read only after the exit: the bytes waited in the connection.
      const c = k.spawn(FIXTURE, ["print", "late reader"], { stdout: "direct" });
      const o = await c.outcome;
      assert.equal(o.drain, "complete");
      assert.equal((await collect(c.stdout)).toString(), "late reader\n");
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
      assert.ok(k.hello!.features.includes("direct_sockets"));
    } finally {
      await k.close();
    }
  });

  test("`cmd &`: a background descendant's late output is delivered, as with a pipe", async () => {
    const k = await Kennel.start({ bin: KENNEL_BIN });
    try {
      for (const mode of ["pipe", "direct"] as const) {
        const r = await k.run("/bin/sh", ["-c", "echo a; (sleep 0.3; echo b) &"], { stdout: mode, drainTimeoutMs: 20000 });
        assert.equal(r.stdout.toString(), "a\nb\n", mode);
        assert.equal(r.outcome.drain, "complete", mode);
        assert.deepEqual(r.outcome.leftoversKilled, [], mode);
      }
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

  test("a stream never read past the leader's exit: the drain timeout ends the tree", async () => {
    const k = await Kennel.start({ bin: KENNEL_BIN });
    try {
      // The leader exits at once; its background flood fills the read-ahead and blocks.
      const c = k.spawn("/bin/sh", ["-c", '"$0" flood --bytes 1073741824 &', FIXTURE], { stdout: "direct", drainTimeoutMs: 300 });
      c.stdout.pause();
      const o = await c.outcome;
      assert.equal(o.code, 0);
      assert.equal(o.drain, "timeout", JSON.stringify(o.raw));
      assert.equal(o.leftoversKilled.length, 1, JSON.stringify(o.raw));
      await waitUntil(() => pidGone(o.leftoversKilled[0]!), "the flood to be gone");
    } finally {
      await k.close();
    }
  });

  test("a leftover holding the stream is ended by the teardown and EOF comes", async () => {
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
      // The stream ends (the connection was closed on our side), as a pipe's would at the drain timeout.
      await new Promise<void>((resolve) => (c.stdout.readableEnded ? resolve() : c.stdout.once("end", () => resolve())));
    } finally {
      if (holder > 0) process.kill(holder, "SIGKILL");
      await k.close();
    }
  });

  test("the socket directory is private, made on first use and removed on close", async () => {
    const before = new Set(socketDirs(process.pid));
    const k = await Kennel.start({ bin: KENNEL_BIN });
    try {
      assert.deepEqual(socketDirs(process.pid).filter((d) => !before.has(d)), [], "no directory before a direct stream");
      await k.run(FIXTURE, ["print", "x"], { stdout: "direct" });
      const mine = socketDirs(process.pid).filter((d) => !before.has(d));
      assert.equal(mine.length, 1, mine.join(", "));
      assert.equal(statSync(mine[0]!).mode & 0o777, 0o700);
      await k.close();
      assert.ok(!existsSync(mine[0]!), `${mine[0]} is removed on close`);
    } finally {
      await k.close();
    }
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

  for (const how of ["exit", "SIGKILL"] as const) {
    test(`the client ends mid-flood (${how}): the sidecar and the child end; the directory goes or is swept`, async () => {
      // A temp dir of this test's own: no other client sweeps it meanwhile.
      const base = mkdtempSync(join(tmpdir(), "kennel-direct-sweep-"));
      try {
        const app = await startFloodApp(base);
        if (how === "exit") app.proc.stdin!.end("go\n");
        else app.proc.kill("SIGKILL");
        await new Promise((resolve) => app.proc.once("exit", resolve));
        await waitUntil(() => ended(app.sidecar) && ended(app.child), "the sidecar and the flood to end");
        if (how === "exit") {
          assert.ok(!existsSync(app.dir), `${app.dir} is removed when the client exits`);
          return;
        }
        // SIGKILL leaves no chance to clean up: the next client's first direct stream sweeps it.
        assert.ok(existsSync(app.dir), `${app.dir} stays after SIGKILL`);
        // The same dead pid, named as if from another PID namespace: not ours to judge.
        const foreign = join(base, `kennel-node-${app.proc.pid}-1-foreign`);
        mkdirSync(foreign);
        const next = await startFloodApp(base);
        assert.ok(!existsSync(app.dir), `the next client removed ${app.dir}`);
        assert.ok(existsSync(foreign), `${foreign} (another namespace) was left alone`);
        next.proc.stdin!.end("go\n");
        await new Promise((resolve) => next.proc.once("exit", resolve));
        await waitUntil(() => ended(next.sidecar) && ended(next.child), "the next client's sidecar and flood to end");
        assert.deepEqual(readdirSync(base), [foreign.slice(base.length + 1)], "only the foreign directory is left");
      } finally {
        rmSync(base, { recursive: true, force: true });
      }
    });
  }
  // A request that races the exit is answered `unknown_id` once the sidecar forgot the
  // child; after `exit` that is no failure. With a direct stream the client finishes
  // the child only once the stream is drained, so `exit` has arrived while `done` is
  // still false: the answer must not reject then either. Each child is killed by the
  // first request, and the same requests follow on every turn of the event loop until
  // it is done (at most 300 turns), so some reach the sidecar after it forgot the child.
  test("a request racing the exit of a child with a direct stream resolves", async () => {
    const k = await Kennel.start({ bin: KENNEL_BIN });
    try {
      const ops: Promise<void>[] = [];
      for (let i = 0; i < 20; i++) {
        const c = k.spawn(FIXTURE, ["sleep", "60000"], { stdout: "direct" });
        let out = "";
        c.stdout.on("data", (b: Buffer) => (out += b.toString()));
        await waitUntil(() => out.includes("main"), "the child's pid line");
        for (let turn = 0; !c.done && turn < 300; turn++) {
          ops.push(c.kill(), c.signal("SIGCONT"), c.cancel());
          await new Promise((res) => setImmediate(res));
        }
        await c.outcome;
      }
      const rejected = (await Promise.allSettled(ops)).filter((r) => r.status === "rejected");
      assert.deepEqual(rejected, [], `${rejected.length} of ${ops.length} requests rejected`);
    } finally {
      await k.close();
    }
  });
});

/**
 * A separate Node process (temp dir `base`) whose Kennel floods a direct stream it reads; it prints
 * `ready <sidecar> <child> <socket dir>` once bytes arrive, and exits on a line on stdin.
 */
async function startFloodApp(base: string): Promise<{ proc: ReturnType<typeof cpSpawn>; sidecar: number; child: number; dir: string }> {
  const index = new URL("../src/index.js", import.meta.url).href;
  const code = `
    import { Kennel } from ${JSON.stringify(index)};
    import { readdirSync } from "node:fs";
    import { tmpdir } from "node:os";
    import { join } from "node:path";
    const k = await Kennel.start({ bin: ${JSON.stringify(KENNEL_BIN)} });
    const c = k.spawn(${JSON.stringify(FIXTURE)}, ["flood", "--bytes", String(1 << 40)], { stdout: "direct" });
    const pid = await c.spawned;
    c.stdout.once("data", () => {
      const dir = readdirSync(tmpdir()).find((n) => n.startsWith("kennel-node-" + process.pid + "-"));
      process.stdout.write("ready " + k.sidecarPid + " " + pid + " " + join(tmpdir(), dir) + "\\n");
    });
    c.stdout.resume();
    process.stdin.once("data", () => process.exit(0));
  `;
  const env = { ...process.env, TMPDIR: base };
  const proc = cpSpawn(process.execPath, ["--input-type=module", "-e", code], { env, stdio: ["pipe", "pipe", "inherit"] });
  let out = "";
  proc.stdout!.on("data", (b: Buffer) => (out += b.toString()));
  await waitUntil(() => /ready \d+ \d+ \S+\n/.test(out) || proc.exitCode !== null, "the app's ready line", 30000);
  const m = /ready (\d+) (\d+) (\S+)\n/.exec(out);
  assert.ok(m, `the app ended before it was ready: ${out}`);
  return { proc, sidecar: Number(m[1]), child: Number(m[2]), dir: m[3]! };
}
