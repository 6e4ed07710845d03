// kennel/process as a drop-in for the opencode/PawWork `Process` helper: its whole surface,
// and Node's conventions compared against a real child_process where Node defines them.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn as cpSpawn } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import * as P from "../src/process.js";
import { Process, RunFailedError, configure, descendants, exists, run, spawn, stop, terminateTree, text } from "../src/process.js";
import { Collector, FIXTURE, pidGone, procState, waitGone, waitUntil } from "../support/helpers.js";

/** What a real child_process reports for a failed spawn: the error and the events after it. */
function nodeSpawnFailure(file: string, args: string[], opts: { cwd?: string } = {}): Promise<{ err: NodeJS.ErrnoException; close: unknown[]; exitCode: number | null; pid: number | undefined }> {
  return new Promise((res) => {
    const c = cpSpawn(file, args, { cwd: opts.cwd, stdio: "ignore" });
    let err!: NodeJS.ErrnoException;
    c.on("error", (e) => (err = e));
    c.on("close", (...close) => res({ err, close, exitCode: c.exitCode, pid: c.pid }));
  });
}

/** Runs kennel's spawn to its failure: the error (from 'error' and from `exited`) and the events. */
async function kennelSpawnFailure(cmd: string[], opts: P.Options = {}) {
  const p = spawn(cmd, opts);
  const events: string[] = [];
  let fromEvent: unknown;
  p.on("error", (e) => {
    events.push("error");
    fromEvent = e;
  });
  const close = new Promise<unknown[]>((res) => p.on("close", (...a) => (events.push("close"), res(a))));
  p.on("exit", () => events.push("exit"));
  const err = await p.exited.then(
    () => assert.fail("exited resolved for a failed spawn"),
    (e: unknown) => e as NodeJS.ErrnoException,
  );
  return { err, fromEvent, close: await close, events, exitCode: p.exitCode, pid: p.pid, spawned: p.spawned };
}

function sameSpawnError(ours: NodeJS.ErrnoException, node: NodeJS.ErrnoException) {
  assert.ok(ours instanceof Error);
  assert.equal(ours.name, node.name);
  assert.equal(ours.message, node.message);
  for (const k of ["errno", "code", "syscall", "path", "spawnargs"] as const) assert.deepEqual(ours[k as keyof NodeJS.ErrnoException], node[k as keyof NodeJS.ErrnoException], k);
}

describe("dropin: surface", () => {
  test("the namespace and the plain functions carry the helper's whole surface", () => {
    const names = ["spawn", "run", "text", "lines", "stop", "exists", "descendants", "terminateTree", "RunFailedError"] as const;
    for (const n of names) {
      assert.equal(typeof Process[n], "function", n);
      assert.equal(Process[n], P[n], n);
    }
    assert.equal(Process.TERMINATION_GRACE_MS, 500);
    assert.equal(P.TERMINATION_GRACE_MS, 500);
    // Types the call sites use (compile-time check; fails the build if one is missing).
    const t: [Process.Child?, Process.Options?, Process.RunOptions?, Process.Result?, Process.TextResult?, Process.TerminateTreeInput?, Process.Stdio?, Process.Shell?] = [];
    assert.equal(t.length, 0);
  });

  test("RunFailedError: the original's name, fields (cmd copied) and message", async () => {
    const cmd = [FIXTURE, "print", "o", "--stderr", " e "];
    const r = await run(cmd, { nothrow: true });
    assert.equal(r.code, 0);
    const failing = ["printf out; printf ' bad \\n' >&2; exit 2"];
    const e = await run(failing, { shell: true }).then(
      () => assert.fail("resolved"),
      (e: unknown) => e as RunFailedError,
    );
    assert.ok(e instanceof RunFailedError && e instanceof Error);
    assert.equal(e.name, "ProcessRunFailedError");
    assert.deepEqual(Object.keys(e).filter((k) => k !== "outcome").sort(), ["cmd", "code", "name", "stderr", "stdout"]);
    assert.deepEqual(e.cmd, failing);
    assert.notEqual(e.cmd, failing);
    assert.equal(e.code, 2);
    assert.equal(e.stdout.toString(), "out");
    assert.equal(e.stderr.toString(), " bad \n");
    assert.equal(e.message, `Command failed with code 2: ${failing[0]}\nbad`);
  });

  test("an empty command throws 'Command is required'", () => {
    assert.throws(() => spawn([]), { message: "Command is required" });
  });
});

describe("dropin: spawn failures as child_process reports them", () => {
  test("missing program: ENOENT with errno, syscall, path, spawnargs; 'error' then 'close' (-2, null)", async () => {
    const file = "kennel-no-such-program-xyz";
    const node = await nodeSpawnFailure(file, ["a", "b"]);
    const ours = await kennelSpawnFailure([file, "a", "b"]);
    assert.equal(node.err.code, "ENOENT");
    sameSpawnError(ours.err, node.err);
    assert.equal(ours.fromEvent, ours.err);
    assert.deepEqual(ours.events, ["error", "close"]);
    assert.deepEqual(ours.close, node.close);
    assert.equal(ours.exitCode, node.exitCode);
    assert.equal(ours.pid, node.pid);
    await assert.rejects(ours.spawned, (e: unknown) => (e as NodeJS.ErrnoException).code === "ENOENT");
  });

  test("missing cwd: ENOENT like child_process", async () => {
    const cwd = "/nonexistent-kennel-dir";
    const node = await nodeSpawnFailure("ls", ["x"], { cwd });
    assert.equal(node.err.code, "ENOENT");
    sameSpawnError((await kennelSpawnFailure(["ls", "x"], { cwd })).err, node.err);
  });

  test("cwd that is a file: ENOTDIR (child_process throws it synchronously; here exited rejects)", async () => {
    const { err } = await kennelSpawnFailure(["ls"], { cwd: "/etc/passwd" });
    assert.equal(err.code, "ENOTDIR");
    assert.equal(err.message, "spawn ls ENOTDIR");
  });

  test("not executable: EACCES like child_process", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "kennel-eacces-"));
    try {
      const file = path.join(dir, "script.sh");
      writeFileSync(file, "#!/bin/sh\necho hi\n");
      chmodSync(file, 0o644);
      const node = await nodeSpawnFailure(file, []);
      assert.equal(node.err.code, "EACCES");
      sameSpawnError((await kennelSpawnFailure([file])).err, node.err);
      await assert.rejects(run([file]), (e: unknown) => (e as NodeJS.ErrnoException).code === "EACCES");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("no 'error' listener: no uncaught error, exited still rejects", async () => {
    const p = spawn(["kennel-no-such-program-xyz"]);
    await assert.rejects(p.exited, { code: "ENOENT" });
  });

  test("nothrow: a spawn failure resolves code 1 with the error's message as stderr (as the original)", async () => {
    const r = await run(["kennel-no-such-program-xyz", "q"], { nothrow: true });
    assert.equal(r.code, 1);
    assert.equal(r.stdout.length, 0);
    assert.equal(r.stderr.toString(), "spawn kennel-no-such-program-xyz ENOENT");
    assert.deepEqual(await P.lines(["kennel-no-such-program-xyz"], { nothrow: true }), []);
  });

  test("an already-aborted signal: spawn throws an AbortError at once, run rejects (even with nothrow)", async () => {
    const signal = AbortSignal.abort();
    assert.throws(() => spawn([FIXTURE, "sleep", "60000"], { abort: signal }), { name: "AbortError" });
    await assert.rejects(run([FIXTURE, "exit", "0"], { abort: signal }), { name: "AbortError" });
    await assert.rejects(run([FIXTURE, "exit", "0"], { abort: signal, nothrow: true }), { name: "AbortError" });
  });
});

describe("dropin: the ChildProcess surface", () => {
  test("pid, exitCode, signalCode, killed, events and kill() return values, beside a real child_process", async () => {
    const node = cpSpawn(FIXTURE, ["sleep", "60000"], { stdio: "ignore" });
    const ours = spawn([FIXTURE, "sleep", "60000"]);
    const nodeEvents: unknown[][] = [];
    const ourEvents: unknown[][] = [];
    for (const e of ["spawn", "exit", "close"]) {
      node.on(e, (...a) => nodeEvents.push([e, ...a]));
      ours.on(e, (...a) => ourEvents.push([e, ...a]));
    }
    const nodeClosed = new Promise((r) => node.once("close", r));
    const ourClosed = new Promise((r) => ours.once("close", r));
    await Promise.all([new Promise((r) => node.once("spawn", r)), new Promise((r) => ours.once("spawn", r))]);
    assert.equal(typeof ours.pid, "number");
    assert.equal(await ours.spawned, ours.pid);
    for (const c of [node, ours]) {
      assert.equal(c.exitCode, null);
      assert.equal(c.signalCode, null);
      assert.equal(c.killed, false);
      assert.equal(c.kill(0), true);
      assert.equal(c.killed, true);
      assert.throws(() => c.kill("SIGNOPE" as NodeJS.Signals), { name: "TypeError", code: "ERR_UNKNOWN_SIGNAL", message: "Unknown signal: SIGNOPE" });
      assert.equal(c.kill(), true);
    }
    await Promise.all([nodeClosed, ourClosed]);
    for (const c of [node, ours]) {
      assert.equal(c.exitCode, null);
      assert.equal(c.signalCode, "SIGTERM");
      assert.equal(c.killed, true);
      assert.equal(c.kill(), false);
      assert.equal(c.kill(0), false);
    }
    assert.deepEqual(ourEvents, nodeEvents);
    assert.deepEqual(ourEvents, [["spawn"], ["exit", null, "SIGTERM"], ["close", null, "SIGTERM"]]);
    assert.equal(ours.spawnfile, node.spawnfile);
    assert.deepEqual(ours.spawnargs, [FIXTURE, "sleep", "60000"]);
    assert.equal(await ours.exited, 143);
  });

  test("a normal exit: exitCode set, signalCode null, killed false, exit/close with (code, null)", async () => {
    const p = spawn([FIXTURE, "exit", "3"]);
    const exit = new Promise<unknown[]>((r) => p.once("exit", (...a) => r(a)));
    assert.equal(await p.exited, 3);
    assert.deepEqual(await exit, [3, null]);
    assert.equal(p.exitCode, 3);
    assert.equal(p.signalCode, null);
    assert.equal(p.killed, false);
  });

  test("stop() accepts what spawn() returned, and a plain ChildProcess", async () => {
    const p = spawn([FIXTURE, "tree", "--depth", "2", "--width", "2"], { stdout: "pipe" });
    const pids = await new Collector(p.stdout!).pids(3);
    await Process.stop(p);
    assert.equal(p.signalCode, "SIGTERM");
    await waitGone(pids);
    const c = cpSpawn(FIXTURE, ["sleep", "60000"], { stdio: ["ignore", "pipe", "ignore"] });
    const [cpid] = await new Collector(c.stdout!).pids(1);
    await stop(c);
    await waitUntil(() => c.signalCode === "SIGTERM", "the plain child to report SIGTERM");
    await waitGone([cpid!]);
  });

  test("stop() of a child whose piped stdout nobody reads resolves (a dev server never read)", async () => {
    // Node's own `exit` does not wait for unread stdio; a drop-in must not either.
    const p = spawn([FIXTURE, "flood", "--bytes", String(1 << 30)], { stdout: "pipe" });
    const pid = await p.spawned;
    // It floods until its flow-control window (and the pipe behind it) is full.
    await waitUntil(() => (p.stdout?.readableLength ?? 0) > 0, "the flood to start");
    const t0 = performance.now();
    await Process.stop(p);
    const took = performance.now() - t0;
    console.log(`stop() of an unread flood resolved in ${took.toFixed(1)} ms`);
    assert.equal(p.signalCode, "SIGTERM");
    await waitGone([pid]);
  });
});

describe("dropin: options keep the original's meaning", () => {
  test("timeout <= 0: abort sends `kill` only (no ladder, no SIGKILL)", async () => {
    const ac = new AbortController();
    const p = spawn([FIXTURE, "trap-term", "--exit-code", "9"], { stdout: "pipe", abort: ac.signal, timeout: 0 });
    const out = new Collector(p.stdout!);
    await out.pids(1);
    ac.abort();
    assert.equal(await p.exited, 9);
    const o = await p.outcome;
    assert.equal(o.reason, "exited");
    assert.equal(o.forced, false);
    assert.match(out.text(), /got SIGTERM/);
  });

  test("kill + timeout: abort sends `kill`, then SIGKILL after `timeout` ms", async () => {
    const ac = new AbortController();
    const p = spawn([FIXTURE, "ignore-signals"], { stdout: "pipe", abort: ac.signal, kill: "SIGINT", timeout: 200 });
    await new Collector(p.stdout!).pids(1);
    ac.abort();
    assert.equal(await p.exited, 137);
    const o = await p.outcome;
    assert.equal(o.reason, "cancelled");
    assert.equal(o.forced, true);
  });
});

describe("dropin: differences, each with its option", () => {
  test("signalExit: 'legacy' reports a death by signal as 1, as the original; configure() sets it module-wide", async () => {
    assert.equal((await run([FIXTURE, "kill-self", "TERM"], { nothrow: true })).code, 143);
    assert.equal((await run([FIXTURE, "kill-self", "TERM"], { nothrow: true, signalExit: "legacy" })).code, 1);
    const prev = configure({ signalExit: "legacy" });
    try {
      await assert.rejects(run([FIXTURE, "kill-self", "SEGV"]), (e: unknown) => e instanceof RunFailedError && e.code === 1);
      assert.equal(await spawn([FIXTURE, "kill-self", "KILL"]).exited, 1);
    } finally {
      configure(prev);
    }
  });

  test("keepLeftovers: a background descendant of a finished leader survives, as with the original", async () => {
    const r = await run([FIXTURE, "background"], { keepLeftovers: true });
    const bg = r.stdout
      .toString()
      .split("\n")
      .filter((l) => l.startsWith("pid ") && !l.endsWith(" main"))
      .map((l) => Number(l.split(" ")[1]));
    assert.ok(bg.length > 0, r.stdout.toString());
    try {
      assert.ok(bg.every((p) => exists(p)), "leftover gone although keepLeftovers");
      assert.deepEqual(r.outcome!.leftoversKilled, []);
    } finally {
      for (const p of bg) if (exists(p)) process.kill(p, "SIGKILL");
      await waitGone(bg);
    }
    const k = await run([FIXTURE, "background"]);
    assert.ok(k.outcome!.leftoversKilled.length > 0, "default: leftovers are killed");
  });

  test("killTree: false signals the leader only, as ChildProcess.kill", async () => {
    const p = spawn([FIXTURE, "tree", "--depth", "2", "--width", "1"], { stdout: "pipe", killTree: false, keepLeftovers: true });
    const out = new Collector(p.stdout!);
    const pids = await out.pids(2);
    const leader = out.pidLines().find((l) => l.role === "root" || l.pid === p.pid)!.pid;
    const others = pids.filter((x) => x !== leader);
    assert.equal(p.kill("SIGTERM"), true);
    await waitUntil(() => pidGone(leader) || p.exitCode !== null || p.signalCode !== null, "the leader to die");
    assert.ok(others.every((x) => exists(x)), "a descendant was signalled");
    await terminateTree({ pid: others[0]! });
    await waitGone(others);
  });
});

describe("dropin: exists / descendants / terminateTree", () => {
  test("descendants lists the whole tree; terminateTree on a kennel child ends it through the sidecar", async () => {
    const p = spawn([FIXTURE, "tree", "--depth", "3", "--width", "2"], { stdout: "pipe" });
    const pids = await new Collector(p.stdout!).pids(7);
    const leader = await p.spawned;
    assert.ok(exists(leader));
    assert.deepEqual((await descendants(leader)).sort(), pids.filter((x) => x !== leader).sort());
    await terminateTree({ pid: leader });
    assert.equal(p.signalCode, "SIGTERM");
    await waitGone(pids);
    assert.equal(exists(leader), false);
  });

  test("terminateTree on a plain process group: SIGTERM, grace, SIGKILL for what ignores it", async () => {
    const c = cpSpawn(FIXTURE, ["tree", "--depth", "2", "--width", "2", "--ignore-term"], { stdio: ["ignore", "pipe", "ignore"], detached: true });
    const pids = await new Collector(c.stdout!).pids(3);
    const exited = new Promise((r) => c.once("exit", r));
    const t0 = Date.now();
    await terminateTree({ pid: c.pid!, graceMs: 200, waitForExit: exited });
    assert.ok(Date.now() - t0 >= 190, `took ${Date.now() - t0} ms`);
    // Dead: the orphaned grandchildren are reaped by whatever adopts them (a zombie is dead).
    await waitUntil(() => pids.every((p) => pidGone(p) || procState(p) === "Z"), `pids ${pids.join(" ")} to be dead`);
  });

  test("descendants of a childless pid is empty; exists of a gone pid is false", async () => {
    const p = spawn([FIXTURE, "sleep", "60000"]);
    const pid = await p.spawned;
    assert.deepEqual(await descendants(pid), []);
    await stop(p);
    await waitGone([pid]);
    assert.equal(exists(pid), false);
  });
});

describe("dropin: text", () => {
  test("text and lines as the original (split on \\r?\\n, empty lines dropped)", async () => {
    const r = await text([FIXTURE, "print", "a\r\nb"]);
    assert.equal(r.text, "a\r\nb\n");
    assert.deepEqual(await P.lines([FIXTURE, "print", "a\r\n\r\nb"]), ["a", "b"]);
  });
});
