// Shapes from users' bug reports against other process helpers, each against the
// drop-in (`kennel/process`) and the real sidecar. docs/USER-REPORTS.md lists them all
// (also the ones the Rust tests and the fixture matrix cover).
import { getEventListeners } from "node:events";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { Readable } from "node:stream";
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { run, spawn, stop } from "../src/process.js";
import { Collector, FIXTURE, waitGone, waitUntil } from "../support/helpers.js";

const NODE = process.execPath;

describe("user reports", () => {
  // openai/codex-action#153, bloknayrb/tandem#1757, paperclipai/paperclip#6434: a large
  // stdin write to a child that exits at once raises an unhandled EPIPE on
  // child_process's stdin and takes the parent down.
  test("64 MiB of input to a child that exits at once: its status, no uncaught EPIPE", async () => {
    const r = await run([NODE, "-e", "process.exit(7)"], { input: Buffer.alloc(64 * 1024 * 1024, 120), nothrow: true });
    assert.equal(r.code, 7);
  });

  test("the same written through stdin with no 'error' listener", async () => {
    const child = spawn([NODE, "-e", "process.exit(7)"], { stdin: "pipe" });
    child.stdin!.write(Buffer.alloc(64 * 1024 * 1024, 120));
    child.stdin!.end();
    assert.equal(await child.exited, 7);
  });

  // tinylibs/tinyexec#138 (lint-staged#1800, tsserver inheriting eslint's pipes):
  // a grandchild with stdio ['ignore', 1, 'ignore'] keeps the child's stdout open for
  // 30 s after the child exits, and `await x()` hangs that long.
  test("a grandchild inheriting stdout does not hold the call: output, status, grandchild gone", async () => {
    const script = [
      "const { spawn } = require('node:child_process');",
      "const g = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)'], { stdio: ['ignore', 1, 'ignore'] });",
      "process.stderr.write('grandchild ' + g.pid + '\\n');",
      "process.stdout.write('output\\n');",
      "process.exit(0);",
    ].join("\n");
    const started = Date.now();
    const r = await run([NODE, "-e", script]);
    assert.equal(r.code, 0);
    assert.equal(r.stdout.toString(), "output\n");
    assert.ok(Date.now() - started < 15000, `took ${Date.now() - started} ms: the 30 s grandchild held the call`);
    const g = /grandchild (\d+)/.exec(r.stderr.toString());
    assert.ok(g, r.stderr.toString());
    await waitGone([Number(g[1])]);
  });

  // nodejs/node#5637: execFile never calls back when the child leaves a disowned
  // `yes > /dev/null &` (it holds stderr); the call must end, and the leftover with it.
  test("a disowned background job does not hold the call and does not survive it", async () => {
    const r = await run(["bash", "-c", "yes > /dev/null & echo \"bg $!\"; disown"]);
    assert.equal(r.code, 0);
    const bg = /bg (\d+)/.exec(r.stdout.toString());
    assert.ok(bg, r.stdout.toString());
    await waitGone([Number(bg[1])]);
  });

  // yegor256/jaxec#168: a helper that writes all of a large input before it drains the
  // child's stdout deadlocks with a filter (`cat`) once both pipes are full. Here input
  // and output flow together: 32 MiB through an echoing child, byte for byte.
  test("32 MiB of input through a child that echoes it as it reads: no deadlock, every byte", { timeout: 60_000 }, async () => {
    const input = Buffer.alloc(32 * 1024 * 1024);
    for (let i = 0; i < input.length; i++) input[i] = (i * 7 + (i >> 12)) & 0xff;
    const r = await run([NODE, "-e", "process.stdin.pipe(process.stdout)"], { input });
    assert.equal(r.code, 0);
    assert.equal(r.stdout.length, input.length);
    assert.ok(r.stdout.equals(input), "the echoed bytes differ from the input");
  });

  // oven-sh/bun#34971 (and nodejs/node#7184): output a consumer has not attached to yet
  // is dropped once the child exits. Here the child is held by flow control until the
  // reader comes: 32 MiB written before anyone listens, all of it read a second later.
  test("32 MiB written before the reader attaches: the late reader gets every byte", { timeout: 60_000 }, async () => {
    const size = 32 * 1024 * 1024;
    const script = `const b = Buffer.alloc(${size}); for (let i = 0; i < b.length; i++) b[i] = i % 251; process.stdout.write(b);`;
    const child = spawn([NODE, "-e", script], { stdout: "pipe" });
    await new Promise((res) => setTimeout(res, 1000));
    const [code, out] = await Promise.all([child.exited, new Collector(child.stdout!).done]);
    assert.equal(code, 0);
    assert.equal(out.length, size);
    const bad = out.findIndex((v, i) => v !== i % 251);
    assert.equal(bad, -1, `byte ${bad} differs`);
  });

  // oven-sh/bun#33399: an endless source piped into the stdin of a child that reads a
  // little and exits is pumped forever — memory climbs and timers never fire. As with
  // Node, the child's exit destroys its stdin (quietly), which unpipes the source.
  test("an endless source piped into a child that exits early: unpiped, timers run, nothing thrown", { timeout: 60_000 }, async () => {
    const child = spawn([NODE, "-e", "process.stdin.once('data', (d) => { process.stdout.write(d.subarray(0, 10)); process.exit(0); })"], { stdin: "pipe", stdout: "pipe" });
    let pulls = 0;
    const source = new Readable({ read() { pulls++; this.push(Buffer.alloc(65536, 97)); } });
    source.pipe(child.stdin!);
    const out = new Collector(child.stdout!);
    const started = Date.now();
    const timer = new Promise<number>((res) => setTimeout(() => res(Date.now() - started), 200));
    assert.equal(await child.exited, 0);
    assert.equal((await out.done).toString(), "a".repeat(10));
    const late = await timer;
    assert.ok(late < 5000, `a 200 ms timer fired after ${late} ms: the event loop was starved`);
    assert.ok(child.stdin!.destroyed, "stdin is destroyed once the child exited");
    const after = pulls;
    await new Promise((res) => setTimeout(res, 300));
    assert.equal(pulls, after, "the source is still being read after the child exited");
    assert.equal(child.stdin!.write("late"), false); // no throw, no uncaught 'error'
  });

  // oven-sh/bun#35276, anomalyco/opencode#34982: an `abort` listener left on a long-lived
  // shared signal per failed spawn (or per spawn with a pre-aborted signal) leaks it and
  // the child it holds. oven-sh/bun#36055: a pre-aborted signal still forks and execs.
  test("a shared AbortSignal keeps no listener after failed and finished spawns; a pre-aborted one starts nothing", { timeout: 60_000 }, async () => {
    const ac = new AbortController();
    for (let i = 0; i < 100; i++) await spawn(["kennel-no-such-program-xyz"], { abort: ac.signal }).exited.catch(() => {});
    for (let i = 0; i < 10; i++) assert.equal(await spawn([NODE, "-e", ""], { abort: ac.signal }).exited, 0);
    await run(["kennel-no-such-program-xyz"], { abort: ac.signal, nothrow: true });
    assert.equal(getEventListeners(ac.signal, "abort").length, 0);
    ac.abort();
    const dir = mkdtempSync(path.join(tmpdir(), "kennel-abort-"));
    const marker = path.join(dir, "started");
    try {
      const script = `require('node:fs').writeFileSync(${JSON.stringify(marker)}, '')`;
      assert.throws(() => spawn([NODE, "-e", script], { abort: ac.signal }), { name: "AbortError" });
      await assert.rejects(run([NODE, "-e", script], { abort: ac.signal }), { name: "AbortError" });
      assert.equal(getEventListeners(ac.signal, "abort").length, 0);
      // Long enough for a child that had been started to write its marker.
      const ran = await run([NODE, "-e", ""]);
      assert.equal(ran.code, 0);
      assert.equal(existsSync(marker), false, "a child ran although the signal was aborted before the spawn");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  // sindresorhus/execa#786: destroying `childProcess.stdin` leaves a child that reads to
  // EOF hanging (await never resolves). In Node it closes the pipe; so here.
  test("destroying stdin closes it: a child reading to EOF ends", { timeout: 60_000 }, async () => {
    const child = spawn([NODE, "-e", "process.stdin.resume().on('end', () => process.exit(5))"], { stdin: "pipe" });
    await child.spawned;
    child.stdin!.write("some input\n");
    child.stdin!.destroy();
    assert.equal(await child.exited, 5);
  });

  // anomalyco/opencode#15385, wonderwhy-er/DesktopCommanderMCP#628, garrytan/gstack#1007:
  // a multi-byte character split across two reads comes out as U+FFFD when each chunk
  // is decoded alone. The drop-in's stdout is a byte stream: `setEncoding("utf8")`
  // (Node's StringDecoder) puts the character together again, as with child_process.
  test("a UTF-8 character split across two reads arrives whole through setEncoding", async () => {
    // The report's repro: "cleanup " and the first byte of "—" (E2 80 94); the rest only
    // once the test has read the first part (a line on stdin), so the split is certain.
    const script = [
      "process.stdout.write(Buffer.from([0x63, 0x6c, 0x65, 0x61, 0x6e, 0x75, 0x70, 0x20, 0xe2]));",
      "process.stdin.once('data', () => process.stdout.write(Buffer.from([0x80, 0x94, 0x20, 0x65, 0x6e, 0x64, 0x0a])));",
    ].join("\n");
    const child = spawn([NODE, "-e", script], { stdin: "pipe", stdout: "pipe" });
    child.stdout!.setEncoding("utf8");
    const parts: string[] = [];
    child.stdout!.on("data", (s: string) => parts.push(s));
    await waitUntil(() => parts.join("").startsWith("cleanup "), "the first part of the output");
    child.stdin!.end("go\n");
    assert.equal(await child.exited, 0);
    await waitUntil(() => child.stdout!.readableEnded, "the end of stdout");
    const text = parts.join("");
    assert.ok(!text.includes("\uFFFD"), JSON.stringify(parts));
    assert.equal(text, "cleanup \u2014 end\n", JSON.stringify(parts));
  });

  // brettwooldridge/NuProcess#130 (fixed by #131), revery-ui/rench#28,
  // casual-simulation/node-deno-vm#34, netease-lcap/wave-agent#1210: killing a child that
  // has already exited throws (ESRCH) or logs an error; it is the ordinary race of a
  // SIGKILL sent after a grace period, or of a cancel with the exit.
  test("kill() on a child that already exited, or that is exiting, neither throws nor rejects", async () => {
    const done = spawn([NODE, "-e", ""]);
    assert.equal(await done.exited, 0);
    assert.equal(done.kill(), false);
    assert.equal(done.kill("SIGKILL"), false);
    assert.equal(await stop(done), 0);
    await done.child.kill();
    await done.child.signal("SIGTERM");
    await done.child.cancel();
    const leader = spawn([NODE, "-e", ""], { killTree: false });
    assert.equal(await leader.exited, 0);
    assert.equal(leader.kill("SIGKILL"), false);
    // Racing the exit: the first request kills the child, and the same requests follow
    // on every turn of the event loop until it is done (at most 300 turns); some reach
    // the sidecar after it forgot the child (it answers unknown_id).
    const ops: Promise<void>[] = [];
    for (let i = 0; i < 20; i++) {
      const c = spawn([FIXTURE, "sleep", "60000"]);
      for (let turn = 0; !c.child.done && turn < 300; turn++) {
        ops.push(c.child.kill(), c.child.signal("SIGTERM"), c.child.cancel());
        await new Promise((res) => setImmediate(res));
      }
      const code = await c.exited;
      assert.ok(code === 128 + 9 || code === 128 + 15, `status ${code}`);
    }
    const settled = await Promise.allSettled(ops);
    const rejected = settled.filter((r) => r.status === "rejected");
    assert.deepEqual(rejected, [], `${rejected.length} of ${ops.length} requests rejected`);
  });
});
