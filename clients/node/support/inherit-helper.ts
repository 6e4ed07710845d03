// Run by test/process.test.ts in a separate node process: exercises "inherit", which
// forwards to/from this process's own stdin/stdout/stderr.
import { run, spawn } from "../src/process.js";
import * as path from "node:path";

const fixture = path.join(path.dirname(process.env["KENNEL_BIN"]!), "kennel-fixture");
const mode = process.argv[2];

if (mode === "inherit") {
  // stdin inherited: echo-stdin copies our stdin to its stdout, which is inherited too.
  const r = await run([fixture, "echo-stdin"], { stdin: "inherit", stdout: "inherit" });
  const p = spawn([fixture, "print", "printed", "--stderr", "to stderr"], { stdout: "inherit", stderr: "inherit" });
  const code = await p.exited;
  process.stdout.write(`code=${code}\n`);
  if (r.stdout.length !== 0) throw new Error("inherited stdout must not be collected");
  // No explicit close: the shared sidecar must not keep this process alive.
}
