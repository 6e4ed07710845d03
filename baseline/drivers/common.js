// The driver every Node implementation of the fixture matrix runs through:
// `node baseline/drivers/<impl>.js JOB.json`. The harness (matrix/, package kennel-matrix)
// writes the job, the driver runs it with its implementation and writes the result JSON
// to `job.resultFile`, then waits for the harness to create `<resultFile>.release`, so the
// harness can look for survivors while the supervisor is still alive. Before an action
// that kills the driver itself it writes `<resultFile>.fired`. Same interface as the Rust driver of the
// `kennel run` column (matrix/src/bin/kennel-matrix-cli-driver.rs).
//
// Job: { argv, graceMs, stdinBytes?, trigger?: { afterMs } | { lines } | { text, rootStopped? },
//        action: "abort" | "sigkill-self" | "sigterm-self" | "sigint-self",
//        slowMsPerChunk?, resultFile, limits?: { memoryMaxBytes?, pidsMax? } }
// Result: { impl, code, signal, status, stdoutBytes, stdoutSha256, stdoutHead (base64),
//           stdoutBytesLate, stderrBytes, triggerMs, finalMs, uncaught: [..], extra }

import { createHash } from "node:crypto";
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";

const HEAD_BYTES = 256 * 1024;

function busyWait(ms) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    /* a consumer busy with each chunk (rendering, parsing): the event loop is blocked */
  }
}

function countPidLines(head) {
  let n = 0;
  for (const line of head.toString("latin1").split("\n")) if (/^pid \d+ \d+ \S+$/.test(line)) n++;
  return n;
}

function rootPid(head) {
  const m = /^pid (\d+) \d+ root$/m.exec(head.toString("latin1"));
  return m ? Number(m[1]) : undefined;
}

function procState(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
    return stat.slice(stat.lastIndexOf(")") + 2)[0];
  } catch {
    return undefined;
  }
}

/**
 * Start `job` with a `spawn(argv, options)` of the shape of the baseline's process.js
 * (which kennel's `kennel/process` mirrors): piped output fed to `hooks`, stdin piped
 * only when the job writes some, the abort signal and the job's grace as the timeout.
 */
export function spawnPiped(spawn, job, hooks, extra = {}) {
  const proc = spawn(job.argv, {
    stdin: job.stdinBytes ? "pipe" : "ignore",
    stdout: "pipe",
    stderr: "pipe",
    abort: hooks.abortSignal,
    timeout: job.graceMs,
    ...extra,
  });
  proc.stdout.on("data", hooks.onStdout);
  proc.stderr.on("data", hooks.onStderr);
  return proc;
}

/**
 * Run the job with `impl`: `{ name, start(job, hooks) }`, where `start` returns
 * `{ stdin, final }`; `hooks` has `abortSignal`, `onStdout(chunk)`, `onStderr(chunk)`;
 * `final` resolves with `{ code, signal, status, extra }` when the implementation reports
 * the final status (its own notion of "done").
 */
export async function runJob(impl) {
  const job = JSON.parse(readFileSync(process.argv[2], "utf8"));
  const uncaught = [];
  process.on("uncaughtException", (e) => uncaught.push(`${e?.code ?? ""} ${e?.message ?? e}`.trim()));
  process.on("unhandledRejection", (e) => uncaught.push(`unhandled rejection: ${e?.code ?? ""} ${e?.message ?? e}`.trim()));

  const t0 = performance.now();
  const ms = () => Math.round(performance.now() - t0);
  const controller = new AbortController();
  const hash = createHash("sha256");
  const headParts = [];
  let headLen = 0;
  let stdoutBytes = 0;
  let stderrBytes = 0;
  let finalSeen = false;
  let lateBytes = 0;
  let triggerMs = null;

  const fire = () => {
    if (triggerMs !== null) return;
    triggerMs = ms();
    if (job.action !== "abort") {
      // This process is about to die: leave proof that it got this far (and what it saw).
      writeFileSync(job.resultFile + ".fired", JSON.stringify({ triggerMs, stdoutHead: head().toString("base64") }));
    }
    switch (job.action ?? "abort") {
      case "abort":
        controller.abort();
        break;
      case "sigkill-self":
        process.kill(process.pid, "SIGKILL");
        break;
      case "sigterm-self":
        process.kill(process.pid, "SIGTERM");
        break;
      case "sigint-self":
        process.kill(process.pid, "SIGINT");
        break;
      default:
        throw new Error(`unknown action ${job.action}`);
    }
  };
  const head = () => Buffer.concat(headParts);
  let rootPoll = null;
  const check = () => {
    const t = job.trigger;
    if (!t || triggerMs !== null) return;
    if (t.lines !== undefined && countPidLines(head()) >= t.lines) fire();
    if (t.text !== undefined && head().includes(t.text)) {
      if (!t.rootStopped) fire();
      else if (rootPoll === null) {
        const pid = rootPid(head());
        rootPoll = setInterval(() => {
          if (pid === undefined || procState(pid) === "T") {
            clearInterval(rootPoll);
            fire();
          }
        }, 5);
      }
    }
  };
  if (job.trigger?.afterMs !== undefined) setTimeout(fire, job.trigger.afterMs);

  const hooks = {
    abortSignal: controller.signal,
    onStdout(chunk) {
      if (finalSeen) {
        lateBytes += chunk.length;
        return;
      }
      stdoutBytes += chunk.length;
      hash.update(chunk);
      if (headLen < HEAD_BYTES) {
        headParts.push(chunk.subarray(0, HEAD_BYTES - headLen));
        headLen += Math.min(chunk.length, HEAD_BYTES - headLen);
        check();
      }
      if (job.slowMsPerChunk) busyWait(job.slowMsPerChunk);
    },
    onStderr(chunk) {
      stderrBytes += chunk.length;
    },
  };

  let outcome;
  try {
    const h = impl.start(job, hooks);
    if (job.stdinBytes) {
      // As common code does it: one write of the whole input, then end(); no 'error' handler.
      h.stdin.write(Buffer.alloc(job.stdinBytes, 0x78));
      h.stdin.end();
    }
    outcome = await h.final;
  } catch (e) {
    outcome = { code: null, signal: null, status: `threw: ${e?.code ?? ""} ${e?.message ?? e}`.trim(), extra: {} };
  }
  finalSeen = true;
  const finalMs = ms();
  // Bytes that still arrive after the final status (the implementation reported before
  // its output was delivered): counted for 300 ms, then the result is written.
  await new Promise((r) => setTimeout(r, 300));
  const result = {
    impl: impl.name,
    code: outcome.code ?? null,
    signal: outcome.signal ?? null,
    status: outcome.status,
    stdoutBytes,
    stdoutSha256: hash.digest("hex"),
    stdoutHead: head().toString("base64"),
    stdoutBytesLate: lateBytes,
    stderrBytes,
    triggerMs,
    finalMs,
    uncaught,
    extra: outcome.extra ?? {},
  };
  writeFileSync(job.resultFile + ".tmp", JSON.stringify(result));
  renameSync(job.resultFile + ".tmp", job.resultFile);
  // Stay alive (the supervisor, with whatever it still runs) until the harness looked and
  // created the release file. (Not EOF on stdin: Node for Windows under Wine cannot open a
  // pipe as process.stdin.)
  setInterval(() => {
    if (existsSync(job.resultFile + ".release")) process.exit(0);
  }, 20);
}
