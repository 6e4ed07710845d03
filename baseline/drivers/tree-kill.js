// Matrix driver: tree-kill on a plain child_process.spawn. Abort: treeKill(pid, SIGTERM),
// and treeKill(pid, SIGKILL) if the child has not closed after the grace. Final status:
// the 'close' event (exit code or signal, after the pipes' EOF).
import { spawn } from "node:child_process";
import treeKill from "tree-kill";
import { runJob } from "./common.js";

runJob({
  name: "tree-kill",
  start(job, hooks) {
    const child = spawn(job.argv[0], job.argv.slice(1), {
      stdio: [job.stdinBytes ? "pipe" : "ignore", "pipe", "pipe"],
    });
    child.stdout.on("data", hooks.onStdout);
    child.stderr.on("data", hooks.onStderr);
    let closed = false;
    const final = new Promise((resolve) => {
      child.once("close", (code, signal) => {
        closed = true;
        resolve({ code, signal, status: signal ? `signal ${signal}` : `code ${code}`, extra: {} });
      });
      child.once("error", (e) => {
        closed = true;
        resolve({ code: null, signal: null, status: `error ${e.code}`, extra: {} });
      });
    });
    hooks.abortSignal.addEventListener("abort", () => {
      treeKill(child.pid, "SIGTERM");
      setTimeout(() => {
        if (!closed) treeKill(child.pid, "SIGKILL");
      }, job.graceMs).unref();
    });
    return { stdin: child.stdin, final };
  },
});
