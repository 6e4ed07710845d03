// Matrix driver: the shell-tool variant of the Node baseline (shell-tool.js).
import { runShell } from "../shell-tool.js";
import { runJob } from "./common.js";

runJob({
  name: "shell-tool",
  start(job, hooks) {
    const { proc, result } = runShell(job.argv, {
      stdin: job.stdinBytes ? "pipe" : "ignore",
      abort: hooks.abortSignal,
      timeout: job.graceMs,
      onStdout: hooks.onStdout,
      onStderr: hooks.onStderr,
    });
    const final = result.then((r) => ({
      code: r.code,
      signal: null, // the tool reports a number only
      status: `code ${r.code}`,
      extra: { truncatedAfterKill: r.truncatedAfterKill, joinedBytes: r.stdout.length },
    }));
    return { stdin: proc.stdin, final };
  },
});
