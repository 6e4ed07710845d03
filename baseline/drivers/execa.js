// Matrix driver: execa (see package.json for the version) with cancelSignal and
// forceKillAfterDelay. execa has no option that kills descendants (its `cleanup` only
// kills the direct child when this process exits), so none is set.
import { execa } from "execa";
import { runJob } from "./common.js";

runJob({
  name: "execa",
  start(job, hooks) {
    const sub = execa(job.argv[0], job.argv.slice(1), {
      stdin: job.stdinBytes ? "pipe" : "ignore",
      cancelSignal: hooks.abortSignal,
      killSignal: "SIGTERM",
      forceKillAfterDelay: job.graceMs,
      buffer: false,
      encoding: "buffer",
      reject: false,
      cleanup: true,
    });
    sub.stdout.on("data", hooks.onStdout);
    sub.stderr.on("data", hooks.onStderr);
    const final = sub.then((r) => ({
      code: r.exitCode ?? null,
      signal: r.signal ?? null,
      status: r.signal ? `signal ${r.signal}` : `code ${r.exitCode}`,
      extra: { isCanceled: r.isCanceled, isForcefullyKilled: r.isForcefullyKilled, failed: r.failed },
    }));
    return { stdin: sub.stdin, final };
  },
});
