// Native API (`kennel`): Kennel / KennelChild against the real sidecar.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Kennel, KennelError, exitStatus, locateKennelBin } from "../src/index.js";
import { Collector, FIXTURE, KENNEL_BIN, binaryPattern, firstDiff, pidGone, textPattern, sidecarForTests, waitGone, waitUntil } from "../support/helpers.js";

let k: Kennel;
sidecarForTests((started) => (k = started));

describe("hello", () => {
  test("start waits for hello (protocol 1)", () => {
    assert.ok(k.hello);
    assert.equal(k.hello.protocol, 1);
    assert.ok(k.hello.maxLineBytes >= 1024);
    assert.ok(Array.isArray(k.hello.containment));
  });
});

describe("containment", () => {
  // Opt-in: `containment: { pid_namespace: true }` (Linux, where the host makes PID
  // namespaces: hello lists the tier). The child is pid 2 of its own namespace; the
  // outcome names the tier and gives the host's pid.
  test("pid_namespace: the tree runs as pid 2 of its own PID namespace", async (t) => {
    if (!k.hello?.containment.includes("pid_namespace")) {
      t.skip("this host makes no PID namespace for trees");
      return;
    }
    const r = await k.run("sh", ["-c", "echo $$"], { containment: { pid_namespace: true } });
    assert.equal(r.stdout.toString(), "2\n");
    assert.equal(r.outcome.containment, "pid_namespace");
    assert.notEqual(r.outcome.pid, 2);
  });
});

describe("streams", () => {
  test("stdout and stderr are separate Readables; outcome has every exit field", async () => {
    const c = k.spawn(FIXTURE, ["print", "héllo", "--stderr", "wörld"]);
    const out = new Collector(c.stdout);
    const err = new Collector(c.stderr);
    const pid = await c.spawned;
    assert.equal(c.pid, pid);
    const o = await c.outcome;
    assert.equal((await out.done).toString(), "héllo\n");
    assert.equal((await err.done).toString(), "wörld\n");
    assert.equal(o.pid, pid);
    assert.equal(o.code, 0);
    assert.equal(o.signal, null);
    assert.equal(o.signalName, null);
    assert.equal(o.reason, "exited");
    assert.equal(o.forced, false);
    assert.equal(typeof o.wallTimeMs, "number");
    assert.deepEqual(o.stdout, { bytes: Buffer.byteLength("héllo\n"), dropped: 0, capHit: false });
    assert.deepEqual(o.stderr, { bytes: Buffer.byteLength("wörld\n"), dropped: 0, capHit: false });
    assert.equal(o.drain, "complete");
    assert.deepEqual(o.leftoversKilled, []);
    assert.equal(typeof o.containment, "string");
    assert.deepEqual(o.errors, []);
    assert.equal(o.raw["event"], "exit");
  });

  // PROTOCOL.md: `ladder_step` is null if the child was never signalled.
  test("ladder_step is null for a child that was never signalled", async () => {
    const r = await k.run(FIXTURE, ["exit", "0"]);
    assert.equal(r.outcome.ladderStep, null);
  });

  test("a UTF-8 character split across reads arrives exact", async () => {
    const r = await k.run(FIXTURE, ["utf8-split", "--delay-ms", "20"]);
    assert.deepEqual(r.stdout, Buffer.from("héllo 😀 wörld\n"));
  });

  test("binary 5 MiB on both streams, byte-exact", async () => {
    const n = 5 * 1024 * 1024;
    const r = await k.run(FIXTURE, ["binary", "--bytes", String(n), "--stderr"]);
    const want = binaryPattern(n);
    assert.equal(firstDiff(r.stdout, want), -1, "stdout differs");
    assert.equal(firstDiff(r.stderr, want), -1, "stderr differs");
    assert.equal(r.outcome.stdout.bytes, n);
  });

  test("backpressure: an unread stream stays bounded, then delivers everything", async () => {
    const max = 1024 * 1024;
    const kb = await Kennel.start({ bin: KENNEL_BIN, maxBufferedBytes: max });
    try {
      const n = 24 * 1024 * 1024;
      const c = kb.spawn(FIXTURE, ["flood", "--bytes", String(n)]);
      await waitUntil(() => c.stdout.readableLength >= max, "the unread buffer to fill");
      // The client stops reading the sidecar: the buffer must not keep growing.
      const seen = c.stdout.readableLength;
      const deadline = Date.now() + 300;
      await waitUntil(() => Date.now() > deadline, "a while");
      assert.ok(c.stdout.readableLength < max + 4 * 1024 * 1024, `buffered ${c.stdout.readableLength} (first ${seen})`);
      assert.ok(!c.done);
      const all = await new Collector(c.stdout).done;
      assert.equal(firstDiff(all, textPattern(n)), -1);
      assert.equal((await c.outcome).code, 0);
    } finally {
      await kb.close();
    }
  });
});

describe("stdin", () => {
  test("write resolves on written; end gives EOF; big binary writes are split", async () => {
    const c = k.spawn(FIXTURE, ["echo-stdin"], { stdin: "pipe" });
    const out = new Collector(c.stdout);
    await c.write("abc\n");
    const big = binaryPattern(2 * 1024 * 1024 + 7);
    await c.write(big);
    await c.write(new Uint8Array([0, 255]));
    await c.end();
    const o = await c.outcome;
    assert.equal(o.code, 0);
    assert.equal(firstDiff(await out.done, Buffer.concat([Buffer.from("abc\n"), big, Buffer.from([0, 255])])), -1);
  });

  test("stdin Writable pipes into the child", async () => {
    const c = k.spawn(FIXTURE, ["echo-stdin"], { stdin: "pipe" });
    const out = new Collector(c.stdout);
    c.stdin!.write("one ");
    c.stdin!.end("two");
    await c.outcome;
    assert.equal((await out.done).toString(), "one two");
  });

  test("write after end rejects (stdin_closed, or child_exited once it is gone)", async () => {
    const c = k.spawn(FIXTURE, ["echo-stdin"], { stdin: "pipe" });
    await c.end();
    await assert.rejects(c.write("late"), (e: unknown) => e instanceof KennelError && (e.code === "stdin_closed" || e.code === "child_exited"));
    assert.equal((await c.outcome).code, 0);
  });

  test("run with input", async () => {
    const r = await k.run(FIXTURE, ["echo-stdin"], { input: "piped input" });
    assert.equal(r.stdout.toString(), "piped input");
  });

  test("write to a child without a stdin pipe rejects with stdin_not_piped", async () => {
    const c = k.spawn(FIXTURE, ["sleep", "60000"]);
    const out = new Collector(c.stdout);
    await out.pids(1);
    await assert.rejects(c.write("x"), (e: unknown) => e instanceof KennelError && e.code === "stdin_not_piped" && e.id === c.id && e.op === "write");
    await c.kill();
    assert.equal((await c.outcome).reason, "killed");
  });
});

describe("termination", () => {
  test("cancel runs the ladder on the whole tree", async () => {
    const c = k.spawn(FIXTURE, ["tree", "--depth", "3", "--width", "2"]);
    const out = new Collector(c.stdout);
    const pids = await out.pids(7);
    await c.cancel();
    const o = await c.outcome;
    assert.equal(o.reason, "cancelled");
    assert.equal(o.signal, 15);
    assert.equal(o.signalName, "SIGTERM");
    assert.equal(o.ladderStep, 0);
    assert.equal(exitStatus(o), 143);
    await waitGone(pids);
  });

  test("kill is the forceful rung at once", async () => {
    const c = k.spawn(FIXTURE, ["ignore-signals"]);
    const pids = await new Collector(c.stdout).pids(1);
    await c.kill();
    const o = await c.outcome;
    assert.equal(o.reason, "killed");
    assert.equal(o.signal, 9);
    await waitGone(pids);
  });

  test("ladder with signal + graceMs: an ignored SIGTERM is followed by SIGKILL", async () => {
    const c = k.spawn(FIXTURE, ["ignore-signals"], { signal: "SIGTERM", graceMs: 200 });
    await new Collector(c.stdout).pids(1);
    await c.cancel();
    const o = await c.outcome;
    assert.equal(o.reason, "cancelled");
    assert.equal(o.forced, true);
    assert.equal(o.signal, 9);
    assert.equal(o.ladderStep, 1);
  });

  test("explicit ladder: first rung SIGINT", async () => {
    const c = k.spawn(FIXTURE, ["sleep", "60000"], { ladder: [{ signal: "INT", waitMs: 5000 }] });
    await new Collector(c.stdout).pids(1);
    await c.cancel();
    const o = await c.outcome;
    assert.equal(o.signalName, "SIGINT");
    assert.equal(exitStatus(o), 130);
  });

  test("timeoutMs", async () => {
    const c = k.spawn(FIXTURE, ["sleep", "60000"], { timeoutMs: 150 });
    const o = await c.outcome;
    assert.equal(o.reason, "timed_out");
    assert.ok(o.wallTimeMs >= 150);
  });

  test("abortSignal runs cancel", async () => {
    const ac = new AbortController();
    const c = k.spawn(FIXTURE, ["tree", "--depth", "2", "--width", "2"], { abortSignal: ac.signal });
    const pids = await new Collector(c.stdout).pids(3);
    ac.abort();
    const o = await c.outcome;
    assert.equal(o.reason, "cancelled");
    await waitGone(pids);
  });

  test("signal sends one signal; the child keeps its handler", async () => {
    const c = k.spawn(FIXTURE, ["trap-term", "--exit-code", "7"]);
    const out = new Collector(c.stdout);
    await out.pids(1);
    await c.signal("TERM");
    const o = await c.outcome;
    assert.equal(o.code, 7);
    assert.equal(o.reason, "exited");
    assert.match((await out.done).toString(), /got SIGTERM\n/);
  });

  test("signal with an unknown name rejects with a typed error", async () => {
    const c = k.spawn(FIXTURE, ["sleep", "60000"]);
    await new Collector(c.stdout).pids(1);
    await assert.rejects(c.signal("SIGNOPE"), (e: unknown) => e instanceof KennelError && e.code === "invalid_field" && e.op === "signal");
    await c.kill();
    await c.outcome;
  });

  test("signal death is reported with signal and name", async () => {
    const r = await k.run(FIXTURE, ["kill-self", "SEGV"]);
    assert.equal(r.outcome.code, null);
    assert.equal(r.outcome.signal, 11);
    assert.equal(r.outcome.signalName, "SIGSEGV");
    assert.equal(exitStatus(r.outcome), 139);
  });

  test("hold-pipe: an escaped grandchild holding the pipes does not hang", async () => {
    const c = k.spawn(FIXTURE, ["hold-pipe", "--setsid"]);
    const out = new Collector(c.stdout);
    const o = await c.outcome;
    const holder = out.pidLines().find((l) => l.role === "holder");
    assert.ok(holder, "holder line");
    assert.equal(o.code, 0);
    await out.done;
    await waitGone([holder.pid]);
  });

  async function keptHolder() {
    const c = k.spawn(FIXTURE, ["hold-pipe"], { keepLeftovers: true, drainTimeoutMs: 200 });
    const out = new Collector(c.stdout);
    const o = await c.outcome;
    const holder = out.pidLines().find((l) => l.role === "holder");
    assert.ok(holder, out.text());
    const alive = !pidGone(holder.pid);
    try {
      process.kill(holder.pid, "SIGKILL");
    } catch {
      /* already gone */
    }
    await waitGone([holder.pid]);
    return { o, alive };
  }

  test("keepLeftovers + drainTimeoutMs: a kept holder of the pipes ends the drain by timeout", async () => {
    const { o } = await keptHolder();
    assert.equal(o.code, 0);
    assert.equal(o.drain, "timeout");
    assert.deepEqual(o.leftoversKilled, []);
  });

  // PROTOCOL.md: keep_leftovers leaves descendants alive after the leader exits.
  test("keepLeftovers: the holder is still alive after exit", async () => {
    const { alive } = await keptHolder();
    assert.equal(alive, true);
  });

  test("output cap (truncate)", async () => {
    const r = await k.run(FIXTURE, ["flood", "--bytes", "100000"], { caps: { stdout: { bytes: 1000 } } });
    assert.equal(r.stdout.length, 1000);
    assert.equal(r.outcome.stdout.capHit, true);
    assert.equal(r.outcome.stdout.dropped, 99000);
  });
});

describe("options", () => {
  test("cwd, env, envRemove, envClear", async () => {
    const r = await k.run(FIXTURE, ["env", "KT_A", "KT_B", "HOME"], { cwd: "/", env: { KT_A: "1", KT_B: undefined }, envRemove: ["HOME"] });
    assert.equal(r.stdout.toString(), "KT_A=1\nKT_B unset\nHOME unset\ncwd=/\n");
    const r2 = await k.run(FIXTURE, ["env", "PATH", "KT_C"], { envClear: true, env: { KT_C: "c" } });
    assert.equal(r2.stdout.toString().split("\n").slice(0, 2).join("\n"), "PATH unset\nKT_C=c");
  });

  test("shell", async () => {
    const r = await k.run("echo $((40+2)) >&2", [], { shell: true });
    assert.equal(r.stderr.toString(), "42\n");
  });

  test("stdout null", async () => {
    const r = await k.run(FIXTURE, ["print", "x", "--stderr", "y"], { stdout: "null" });
    assert.equal(r.stdout.length, 0);
    assert.equal(r.stderr.toString(), "y\n");
  });

  test("list shows running children", async () => {
    const c = k.spawn(FIXTURE, ["sleep", "60000"]);
    await new Collector(c.stdout).pids(1);
    const l = await k.list();
    const me = l.find((x) => x.id === c.id);
    assert.ok(me);
    assert.equal(me.pid, c.pid);
    assert.equal(me.state, "running");
    await c.kill();
    await c.outcome;
  });
});

describe("errors", () => {
  test("unknown program: spawned and outcome reject with spawn_failed", async () => {
    const c = k.spawn("/nonexistent/kennel-no-such-program", []);
    await assert.rejects(c.spawned, (e: unknown) => e instanceof KennelError && e.code === "spawn_failed" && e.id === c.id && e.op === "spawn");
    await assert.rejects(c.outcome, (e: unknown) => e instanceof KennelError && e.code === "spawn_failed");
    assert.ok(c.stdout.readableEnded || (await new Collector(c.stdout).done).length === 0);
  });

  test("missing binary: a clear start_failed error", async () => {
    await assert.rejects(Kennel.start({ bin: "/nonexistent/kennel" }), (e: unknown) => e instanceof KennelError && e.code === "start_failed" && /\/nonexistent\/kennel/.test(e.message));
  });

  test("no binary configured: bin_not_found names both ways", () => {
    const saved = process.env["KENNEL_BIN"];
    delete process.env["KENNEL_BIN"];
    try {
      assert.throws(() => locateKennelBin(), (e: unknown) => e instanceof KennelError && e.code === "bin_not_found" && /KENNEL_BIN/.test(e.message) && /`bin`/.test(e.message));
      assert.throws(() => Kennel.create(), (e: unknown) => e instanceof KennelError && e.code === "bin_not_found");
    } finally {
      process.env["KENNEL_BIN"] = saved;
    }
  });

  test("sidecar death rejects pending outcomes; later calls throw", async () => {
    const kd = await Kennel.start({ bin: KENNEL_BIN });
    const c = kd.spawn(FIXTURE, ["tree", "--depth", "2", "--width", "2"]);
    const pids = await new Collector(c.stdout).pids(3);
    process.kill(kd.sidecarPid!, "SIGKILL");
    await assert.rejects(c.outcome, (e: unknown) => e instanceof KennelError && e.code === "sidecar_exited");
    assert.throws(() => kd.spawn(FIXTURE, ["exit", "0"]), (e: unknown) => e instanceof KennelError && e.code === "sidecar_exited");
    await assert.rejects(kd.list(), (e: unknown) => e instanceof KennelError && e.code === "sidecar_exited");
    await kd.close();
    // PROTOCOL.md, Lifecycle 4: the containment takes the tree down with the sidecar.
    await waitGone(pids);
  });

  test("close runs running children's ladder (supervisor_shutdown) and waits for bye", async () => {
    const kc = await Kennel.start({ bin: KENNEL_BIN });
    const c = kc.spawn(FIXTURE, ["sleep", "60000"]);
    const pids = await new Collector(c.stdout).pids(1);
    await kc.close();
    const o = await c.outcome;
    assert.equal(o.reason, "supervisor_shutdown");
    await waitGone(pids);
    assert.throws(() => kc.spawn(FIXTURE, []), (e: unknown) => e instanceof KennelError && e.code === "closed");
  });
});

describe("concurrency", () => {
  test("100 concurrent children, each output intact", async () => {
    const n = 100;
    const runs = Array.from({ length: n }, (_, i) => k.run(FIXTURE, ["print", `child-${i}`, "--stderr", `err-${i}`]));
    const results = await Promise.all(runs);
    results.forEach((r, i) => {
      assert.equal(r.stdout.toString(), `child-${i}\n`);
      assert.equal(r.stderr.toString(), `err-${i}\n`);
      assert.equal(r.outcome.code, 0);
    });
    const ids = new Set(results.map((r) => r.outcome.pid));
    assert.equal(ids.size, n);
  });
});
