// Matrix driver: the Node baseline (process.js), `spawn` + what `run()` waits for.
import { finished, spawn } from "../process.js";
import { runJob } from "./common.js";

runJob({
  name: "baseline",
  start(job, hooks) {
    const proc = spawn(job.argv, {
      stdin: job.stdinBytes ? "pipe" : "ignore",
      stdout: "pipe",
      stderr: "pipe",
      abort: hooks.abortSignal,
      timeout: job.graceMs,
    });
    proc.stdout.on("data", hooks.onStdout);
    proc.stderr.on("data", hooks.onStderr);
    const final = finished(proc).then((code) => ({ code, signal: null, status: `code ${code}`, extra: {} }));
    return { stdin: proc.stdin, final };
  },
});
