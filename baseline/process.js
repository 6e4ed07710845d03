// The Node baseline: the `Process` helper common Node agent code uses (`spawn`, `run`,
// `stop`), re-implemented from the description in issue 6 so the fixture matrix compares
// kennel with what such code really does — not with a straw man. Keep it faithful:
//
// * spawn with cross-spawn, not detached, stdio as asked;
// * exit code = `code ?? (signal ? 1 : 0)` from the 'exit' event;
// * `run()` awaits 'exit' plus EOF on both pipes, no drain timeout, no size cap;
// * abort with grace G (`timeout`, default 5000 ms; `stop()` uses 500 ms):
//   Unix: a one-time snapshot of the descendants (`pgrep -P`, recursively), then
//   `process.kill(-pid, 'SIGTERM')`, and when that throws (the child is not a group
//   leader) SIGTERM to the root and to every snapshot pid that `kill(pid, 0)` says is
//   alive; wait for exit or G; if the root and every snapshot pid are gone, stop; else
//   SIGKILL to the group (only if the group signal worked and the root is alive),
//   otherwise to the root, and SIGKILL to every snapshot pid; wait up to G again.
//   Windows: `taskkill /pid PID /f /t` at once, no graceful phase, result ignored.
//
// Nothing here is meant to be good; it is meant to be typical.

import { execFile } from "node:child_process";
import crossSpawn from "cross-spawn";

/** `kill(pid, 0)`: true while the pid exists (a zombie counts, as it does for the baseline). */
export function isAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return e.code === "EPERM";
  }
}

function pgrepChildren(pid) {
  return new Promise((resolve) => {
    execFile("pgrep", ["-P", String(pid)], (err, stdout) => {
      if (err) return resolve([]); // exit 1: no children
      resolve(
        stdout
          .split("\n")
          .map((l) => Number.parseInt(l, 10))
          .filter((n) => Number.isInteger(n) && n > 0),
      );
    });
  });
}

/** Every descendant of `pid` at this moment, by running `pgrep -P` recursively. */
export async function snapshotDescendants(pid) {
  const out = [];
  let frontier = [pid];
  while (frontier.length > 0) {
    const next = [];
    for (const p of frontier) {
      for (const c of await pgrepChildren(p)) {
        if (!out.includes(c)) {
          out.push(c);
          next.push(c);
        }
      }
    }
    frontier = next;
  }
  return out;
}

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

function waitExit(proc, ms) {
  return Promise.race([proc.exited.then(() => true), sleep(ms).then(() => false)]);
}

function trySignal(target, sig) {
  try {
    process.kill(target, sig);
    return true;
  } catch {
    return false;
  }
}

/** The abort ladder (see the header). Resolves when it is done, not when the tree is. */
export async function killTree(proc, graceMs) {
  const pid = proc.pid;
  if (pid === undefined || proc.exitCode !== null) return;
  if (process.platform === "win32") {
    execFile("taskkill", ["/pid", String(pid), "/f", "/t"], () => {});
    return;
  }
  const snapshot = await snapshotDescendants(pid);
  let groupWorked = trySignal(-pid, "SIGTERM");
  if (!groupWorked) {
    trySignal(pid, "SIGTERM");
    for (const p of snapshot) if (isAlive(p)) trySignal(p, "SIGTERM");
  }
  await waitExit(proc, graceMs);
  const rootGone = proc.exitCode !== null || !isAlive(pid);
  if (rootGone && snapshot.every((p) => !isAlive(p))) return;
  if (!(groupWorked && !rootGone && trySignal(-pid, "SIGKILL"))) trySignal(pid, "SIGKILL");
  for (const p of snapshot) trySignal(p, "SIGKILL");
  await waitExit(proc, graceMs);
}

/**
 * `proc.exitCode` and the promise of it: `code ?? (signal ? 1 : 0)` from 'exit', 1 when
 * the spawn failed ('error' without 'exit'). `onExit(code, signal)` sees the raw values.
 */
export function trackExit(child, proc, onExit = () => {}) {
  return new Promise((resolve) => {
    child.once("exit", (code, signal) => {
      onExit(code, signal);
      proc.exitCode = code ?? (signal ? 1 : 0);
      resolve(proc.exitCode);
    });
    child.once("error", () => {
      if (proc.exitCode === null) {
        proc.exitCode = 1;
        resolve(1);
      }
    });
  });
}

function stdioOf(mode) {
  return mode === "inherit" ? "inherit" : mode === "pipe" ? "pipe" : "ignore";
}

/**
 * Spawn `cmd[0]` with `cmd.slice(1)`. Options: `cwd`, `env` (merged over process.env),
 * `stdin`/`stdout`/`stderr` ("pipe" | "inherit" | "ignore"), `abort` (AbortSignal),
 * `timeout` (the grace G, default 5000 ms).
 */
export function spawn(cmd, opts = {}) {
  const child = crossSpawn(cmd[0], cmd.slice(1), {
    cwd: opts.cwd,
    env: opts.env ? { ...process.env, ...opts.env } : process.env,
    stdio: [stdioOf(opts.stdin), stdioOf(opts.stdout ?? "pipe"), stdioOf(opts.stderr ?? "pipe")],
  });
  const proc = {
    child,
    pid: child.pid,
    stdin: child.stdin,
    stdout: child.stdout,
    stderr: child.stderr,
    exitCode: null,
    exited: null,
  };
  proc.exited = trackExit(child, proc);
  const grace = opts.timeout ?? 5000;
  if (opts.abort) {
    const onAbort = () => void killTree(proc, grace);
    if (opts.abort.aborted) onAbort();
    else opts.abort.addEventListener("abort", onAbort, { once: true });
    proc.exited.then(() => opts.abort.removeEventListener("abort", onAbort));
  }
  return proc;
}

function eof(stream) {
  if (!stream) return Promise.resolve();
  return new Promise((resolve) => {
    if (stream.readableEnded || stream.destroyed) return resolve();
    stream.once("end", resolve).once("close", resolve);
  });
}

/** What `run()` waits for: 'exit' plus EOF on both pipes (no drain timeout). */
export async function finished(proc) {
  const [code] = await Promise.all([proc.exited, eof(proc.stdout), eof(proc.stderr)]);
  return code;
}

async function collect(stream) {
  if (!stream) return Buffer.alloc(0);
  const parts = [];
  for await (const c of stream) parts.push(c);
  return Buffer.concat(parts);
}

/** Run to completion: `{ code, stdout, stderr }` (no size cap). */
export async function run(cmd, opts = {}) {
  const proc = spawn(cmd, { ...opts, stdout: "pipe", stderr: "pipe" });
  if (opts.input !== undefined) proc.stdin?.end(opts.input);
  const [stdout, stderr, code] = await Promise.all([collect(proc.stdout), collect(proc.stderr), proc.exited]);
  return { code, stdout, stderr };
}

/** Terminate the tree with the ladder and a 500 ms grace; resolves with the exit code. */
export async function stop(proc, graceMs = 500) {
  await killTree(proc, graceMs);
  return proc.exited;
}
