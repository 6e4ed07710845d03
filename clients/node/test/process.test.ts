// Drop-in module (`kennel/process`) against the real sidecar, through the shared default Kennel.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { KennelError, RunFailedError, lines, run, spawn, stop, text } from "../src/process.js";
import { Collector, FIXTURE, binaryPattern, firstDiff, pidGone, waitGone } from "../support/helpers.js";

const here = path.dirname(fileURLToPath(import.meta.url));

/** Run a helper script in a separate node process (for "inherit", which touches process.std*). */
function runHelper(mode: string, input: string): Promise<{ stdout: string; stderr: string; code: number }> {
  return new Promise((res, rej) => {
    const p = execFile(process.execPath, [path.join(here, "..", "support", "inherit-helper.js"), mode], { encoding: "utf8", timeout: 30000 }, (err, stdout, stderr) => {
      if (err && typeof err.code !== "number") return rej(err);
      res({ stdout, stderr, code: err ? (err.code as unknown as number) : 0 });
    });
    p.stdin!.end(input);
  });
}

describe("process: run / text / lines", () => {
  test("run collects stdout and stderr", async () => {
    const r = await run([FIXTURE, "print", "out", "--stderr", "err"]);
    assert.equal(r.code, 0);
    assert.equal(r.stdout.toString(), "out\n");
    assert.equal(r.stderr.toString(), "err\n");
  });

  test("binary 5 MiB byte-exact", async () => {
    const n = 5 * 1024 * 1024;
    const r = await run([FIXTURE, "binary", "--bytes", String(n)]);
    assert.equal(r.stdout.length, n);
    assert.equal(firstDiff(r.stdout, binaryPattern(n)), -1);
  });

  test("text", async () => {
    const r = await text([FIXTURE, "print", "héllo wörld"]);
    assert.equal(r.text, "héllo wörld\n");
    assert.equal(r.code, 0);
  });

  test("lines: non-empty, \\r stripped", async () => {
    assert.deepEqual(await lines([FIXTURE, "print", "a\r\n\nb\n c \r\n"]), ["a", "b", " c "]);
  });

  test("RunFailedError: shape and message without stderr", async () => {
    const cmd = [FIXTURE, "exit", "4"];
    await assert.rejects(run(cmd), (e: unknown) => {
      assert.ok(e instanceof RunFailedError);
      assert.equal(e.name, "ProcessRunFailedError");
      assert.deepEqual(e.cmd, cmd);
      assert.equal(e.code, 4);
      assert.ok(Buffer.isBuffer(e.stdout) && e.stdout.length === 0);
      assert.ok(Buffer.isBuffer(e.stderr) && e.stderr.length === 0);
      assert.equal(e.message, `Command failed with code 4: ${cmd.join(" ")}`);
      return true;
    });
  });

  test("RunFailedError: trimmed stderr on the next line", async () => {
    const cmd = ["echo out; echo '  bad thing  ' >&2; exit 3"];
    await assert.rejects(run(cmd, { shell: true }), (e: unknown) => {
      assert.ok(e instanceof RunFailedError);
      assert.equal(e.code, 3);
      assert.equal(e.stdout.toString(), "out\n");
      assert.equal(e.stderr.toString(), "  bad thing  \n");
      assert.equal(e.message, `Command failed with code 3: ${cmd[0]}\nbad thing`);
      return true;
    });
  });

  test("nothrow", async () => {
    const r = await run([FIXTURE, "exit", "5"], { nothrow: true });
    assert.equal(r.code, 5);
  });

  test("signal death is 128+N (and in outcome.signal)", async () => {
    const r = await run([FIXTURE, "kill-self", "TERM"], { nothrow: true });
    assert.equal(r.code, 143);
    assert.equal(r.outcome!.signal, 15);
    assert.equal(r.outcome!.signalName, "SIGTERM");
    await assert.rejects(run([FIXTURE, "kill-self", "SEGV"]), (e: unknown) => e instanceof RunFailedError && e.code === 139);
  });

  test("input", async () => {
    const r = await run([FIXTURE, "echo-stdin"], { input: Buffer.from([0, 1, 2, 255]) });
    assert.deepEqual(r.stdout, Buffer.from([0, 1, 2, 255]));
  });

  test("hold-pipe: a grandchild holding the pipes does not hang run", async () => {
    const r = await run([FIXTURE, "hold-pipe"]);
    assert.equal(r.code, 0);
    const holder = r.stdout
      .toString()
      .split("\n")
      .find((l) => l.endsWith(" holder"));
    assert.ok(holder, r.stdout.toString());
    await waitGone([Number(holder.split(" ")[1])]);
  });

  test("unknown program rejects with ENOENT (the sidecar's spawn_failed as cause)", async () => {
    await assert.rejects(run(["kennel-no-such-program-xyz"]), (e: unknown) => (e as NodeJS.ErrnoException).code === "ENOENT" && (e as Error).cause instanceof KennelError);
  });
});

describe("process: options", () => {
  test("cwd", async () => {
    const dir = realpathSync(mkdtempSync(path.join(tmpdir(), "kennel-node-")));
    try {
      const r = await text([FIXTURE, "env"], { cwd: dir });
      assert.equal(r.text, `cwd=${dir}\n`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("cwd defaults to process.cwd()", async () => {
    const r = await text([FIXTURE, "env"]);
    assert.equal(r.text, `cwd=${realpathSync(process.cwd())}\n`);
  });

  test("env absent: inherits the current process.env (also changes made after the sidecar started)", async () => {
    await run([FIXTURE, "exit", "0"]); // make sure the shared sidecar is running
    process.env["KT_LATE"] = "late";
    const savedHome = process.env["HOME"];
    delete process.env["HOME"];
    try {
      const r = await text([FIXTURE, "env", "KT_LATE", "HOME", "PATH"]);
      assert.equal(r.text, `KT_LATE=late\nHOME unset\nPATH=${process.env["PATH"]}\ncwd=${realpathSync(process.cwd())}\n`);
    } finally {
      delete process.env["KT_LATE"];
      if (savedHome !== undefined) process.env["HOME"] = savedHome;
    }
  });

  test("env object: merged over process.env; undefined removes", async () => {
    process.env["KT_PARENT"] = "p";
    process.env["KT_GONE"] = "g";
    try {
      const r = await text([FIXTURE, "env", "KT_PARENT", "KT_SET", "KT_GONE"], { env: { KT_SET: "s=1 ü", KT_GONE: undefined } });
      assert.match(r.text, /^KT_PARENT=p\nKT_SET=s=1 ü\nKT_GONE unset\n/);
    } finally {
      delete process.env["KT_PARENT"];
      delete process.env["KT_GONE"];
    }
  });

  test("env null: empty environment", async () => {
    const r = await text([FIXTURE, "env", "PATH", "HOME"], { env: null });
    assert.match(r.text, /^PATH unset\nHOME unset\n/);
  });

  test("stdin pipe", async () => {
    const p = spawn([FIXTURE, "echo-stdin"], { stdin: "pipe", stdout: "pipe" });
    assert.ok(p.stdin);
    const out = new Collector(p.stdout!);
    p.stdin.write("hello ");
    p.stdin.end(Buffer.from("world"));
    assert.equal(await p.exited, 0);
    assert.equal((await out.done).toString(), "hello world");
  });

  test("stdin ignore (default): the child reads EOF", async () => {
    const p = spawn([FIXTURE, "echo-stdin"], { stdout: "pipe" });
    assert.equal(p.stdin, null);
    const out = new Collector(p.stdout!);
    assert.equal(await p.exited, 0);
    assert.equal((await out.done).length, 0);
  });

  test("stdout/stderr default to ignore for spawn, pipe for run", async () => {
    const p = spawn([FIXTURE, "print", "x", "--stderr", "y"]);
    assert.equal(p.stdin, null);
    assert.equal(p.stdout, null);
    assert.equal(p.stderr, null);
    assert.equal(await p.exited, 0);
    const o = await p.outcome;
    assert.equal(o.stdout.bytes, 0);
    const r = await run([FIXTURE, "print", "x", "--stderr", "y"], { stderr: "ignore" });
    assert.equal(r.stdout.toString(), "x\n");
    assert.equal(r.stderr.length, 0);
  });

  test("stdin/stdout/stderr inherit (in a separate node process)", async () => {
    const r = await runHelper("inherit", "from parent stdin\n");
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "from parent stdin\nprinted\ncode=0\n");
    assert.equal(r.stderr, "to stderr\n");
  });

  test("shell: true runs cmd joined with spaces in /bin/sh", async () => {
    const r = await text(["echo", "$((1+2))", "$0"], { shell: true });
    assert.equal(r.text, "3 /bin/sh\n");
  });

  test("shell: a path", async () => {
    const sh = existsSync("/bin/bash") ? "/bin/bash" : "/bin/sh";
    const r = await text(["echo", "$0"], { shell: sh });
    assert.equal(r.text, `${sh}\n`);
  });

  test("abort runs the ladder on the whole tree", async () => {
    const ac = new AbortController();
    const p = spawn([FIXTURE, "tree", "--depth", "3", "--width", "2"], { stdout: "pipe", abort: ac.signal });
    const pids = await new Collector(p.stdout!).pids(7);
    ac.abort();
    assert.equal(await p.exited, 143);
    assert.equal((await p.outcome).reason, "cancelled");
    await waitGone(pids);
  });

  test("kill option: the first signal of the ladder", async () => {
    const ac = new AbortController();
    const p = spawn([FIXTURE, "sleep", "60000"], { stdout: "pipe", abort: ac.signal, kill: "SIGINT" });
    await new Collector(p.stdout!).pids(1);
    ac.abort();
    assert.equal(await p.exited, 130);
  });

  test("timeout option: grace before SIGKILL", async () => {
    const ac = new AbortController();
    const p = spawn([FIXTURE, "ignore-signals"], { stdout: "pipe", abort: ac.signal, timeout: 300 });
    await new Collector(p.stdout!).pids(1);
    const t0 = Date.now();
    ac.abort();
    assert.equal(await p.exited, 137);
    const o = await p.outcome;
    assert.equal(o.forced, true);
    assert.ok(Date.now() - t0 >= 250, `took ${Date.now() - t0} ms`);
  });

  test("an abort right after spawn cancels at once", async () => {
    const ac = new AbortController();
    const p = spawn([FIXTURE, "sleep", "60000"], { abort: ac.signal, timeout: 1000 });
    ac.abort();
    const code = await p.exited;
    assert.equal((await p.outcome).reason, "cancelled");
    // SIGTERM, not the ladder's SIGKILL: a signal sent right after spawn is not lost
    // (session 1 saw 137 here; the keeper dropped commands sent before tokio's reactor
    // had polled its socket).
    assert.equal(code, 143);
  });
});

describe("process: spawn / kill / stop", () => {
  test("pid, spawned, exited", async () => {
    const p = spawn([FIXTURE, "sleep", "60000"], { stdout: "pipe" });
    const [pid] = await new Collector(p.stdout!).pids(1);
    assert.equal(await p.spawned, pid);
    assert.equal(p.pid, pid);
    assert.equal(p.kill(), true);
    assert.equal(await p.exited, 143);
    assert.equal(p.kill(), false);
  });

  test("kill(signal) sends that signal to the whole tree", async () => {
    const p = spawn([FIXTURE, "tree", "--depth", "2", "--width", "3"], { stdout: "pipe" });
    const pids = await new Collector(p.stdout!).pids(4);
    p.kill("SIGUSR1");
    assert.equal(await p.exited, 128 + 10);
    await waitGone(pids);
  });

  test("kill('SIGKILL')", async () => {
    const p = spawn([FIXTURE, "ignore-signals"], { stdout: "pipe" });
    await new Collector(p.stdout!).pids(1);
    p.kill("SIGKILL");
    assert.equal(await p.exited, 137);
  });

  test("stop() ends a whole tree", async () => {
    const p = spawn([FIXTURE, "tree", "--depth", "3", "--width", "2"], { stdout: "pipe" });
    const pids = await new Collector(p.stdout!).pids(7);
    assert.equal(await stop(p), 143);
    await waitGone(pids);
  });

  test("stop() escalates to SIGKILL after 500 ms for a tree ignoring SIGTERM", async () => {
    const p = spawn([FIXTURE, "tree", "--depth", "2", "--width", "2", "--ignore-term"], { stdout: "pipe" });
    const pids = await new Collector(p.stdout!).pids(3);
    const t0 = Date.now();
    assert.equal(await stop(p), 137);
    assert.ok(Date.now() - t0 >= 450, `took ${Date.now() - t0} ms`);
    await waitGone(pids);
    assert.ok(pids.every(pidGone));
  });

  test("stop() on an exited process resolves with its status", async () => {
    const p = spawn([FIXTURE, "exit", "3"]);
    assert.equal(await p.exited, 3);
    assert.equal(await stop(p), 3);
  });

  test("many concurrent runs", async () => {
    const rs = await Promise.all(Array.from({ length: 100 }, (_, i) => text([FIXTURE, "print", `n${i}`])));
    rs.forEach((r, i) => assert.equal(r.text, `n${i}\n`));
  });
});
