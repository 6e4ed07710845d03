// The shell-tool variant of the Node baseline (issue 6): how agent "run a shell command"
// tools usually do it. Differences from process.js:
//
// * the command line runs in a shell, spawned `detached: true` on Unix (so the shell is a
//   process-group leader and `process.kill(-pid)` reaches its group);
// * the exit status is taken from the 'close' event (so it waits for the pipes' EOF);
// * output is collected as it arrives and, once a kill was issued, joined with a 1 s cap:
//   whatever has not arrived 1 s after the kill ladder finished is silently dropped.
//
// The abort ladder is the baseline's (process.js `killTree`).

import { spawn as nodeSpawn } from "node:child_process";
import { killTree, trackExit } from "./process.js";

/** Quote `s` for the shell (POSIX single quotes; cmd.exe double quotes) unless harmless. */
export function shellQuote(s) {
  if (process.platform === "win32") return /^[A-Za-z0-9_\-.\\/=:,+@%]+$/.test(s) ? s : `"${s.replaceAll('"', '""')}"`;
  return /^[A-Za-z0-9_\-./=:,+@%]+$/.test(s) ? s : `'${s.replaceAll("'", "'\\''")}'`;
}

/**
 * Run `command` (a string, or an argv that is quoted into one) in the shell. Options:
 * `abort` (AbortSignal), `timeout` (the grace G, default 5000 ms), `stdin` ("pipe" |
 * "ignore"), `onStdout(chunk)` / `onStderr(chunk)` (streamed output, as the tool's UI
 * gets it). Returns `{ proc, result }`; `result` resolves with `{ code, signal,
 * stdout, stderr, truncatedAfterKill }`.
 */
export function runShell(command, opts = {}) {
  const line = Array.isArray(command) ? command.map(shellQuote).join(" ") : command;
  const win = process.platform === "win32";
  const child = nodeSpawn(win ? process.env.ComSpec || "cmd.exe" : "/bin/sh", win ? ["/d", "/s", "/c", `"${line}"`] : ["-c", line], {
    detached: !win,
    stdio: [opts.stdin === "pipe" ? "pipe" : "ignore", "pipe", "pipe"],
    windowsVerbatimArguments: win,
  });
  const out = [];
  const err = [];
  child.stdout.on("data", (c) => {
    out.push(c);
    opts.onStdout?.(c);
  });
  child.stderr.on("data", (c) => {
    err.push(c);
    opts.onStderr?.(c);
  });
  const proc = { child, pid: child.pid, stdin: child.stdin, exitCode: null, exited: null };
  let exitInfo = null;
  proc.exited = trackExit(child, proc, (code, signal) => (exitInfo = { code, signal }));
  const closed = new Promise((resolve) => {
    child.once("close", (code, signal) => resolve({ code, signal }));
    child.once("error", () => resolve({ code: 1, signal: null }));
  });
  let ladderStarted;
  const ladder = new Promise((r) => (ladderStarted = r));
  if (opts.abort) {
    const onAbort = () => ladderStarted(killTree(proc, opts.timeout ?? 5000));
    if (opts.abort.aborted) onAbort();
    else opts.abort.addEventListener("abort", onAbort, { once: true });
  }
  const result = (async () => {
    let info;
    let truncatedAfterKill = false;
    // Without a kill, 'close' decides; after one, 1 s more at most.
    const cap = ladder.then(() => new Promise((r) => setTimeout(() => r(null), 1000)));
    info = await Promise.race([closed, cap]);
    if (info === null) {
      truncatedAfterKill = true;
      info = exitInfo ?? { code: null, signal: "SIGKILL" };
      child.stdout.destroy();
      child.stderr.destroy();
    }
    return {
      code: info.code ?? (info.signal ? 1 : 0),
      signal: info.signal,
      stdout: Buffer.concat(out),
      stderr: Buffer.concat(err),
      truncatedAfterKill,
    };
  })();
  return { proc, result };
}
