// Run by test/client_gone.test.ts as a separate node process: a Node app using
// `kennel/process` with three children (a TERM-ignorer, a tree of TERM-ignorers, a
// sleeper) that then ends in the way `argv[2]` says (issue 12):
//   exit   — process.exit(3) once told "go" on stdin
//   throw  — an uncaught exception once told "go"
//   wait   — nothing: the test signals it (SIGTERM, SIGKILL)
// `argv[3]` is the sidecar's `stderr` option ("pipe" or "inherit"). Prints
// `ready <sidecar pid>` once every child was spawned.
import * as path from "node:path";
import { getDefaultKennel } from "../src/index.js";
import { spawn } from "../src/process.js";

const fixture = path.join(path.dirname(process.env["KENNEL_BIN"]!), "kennel-fixture");
const how = process.argv[2];
const stderr = process.argv[3] === "inherit" ? "inherit" : "pipe";
const grace = Number(process.env["CLIENT_GONE_GRACE_MS"] ?? "500");

// The default Kennel of `kennel/process`, started with the stderr option under test.
const kennel = getDefaultKennel({ stderr });
const children = [
  spawn([fixture, "ignore-signals"], { timeout: grace }),
  spawn([fixture, "tree", "--depth", "2", "--width", "2", "--ignore-term"], { timeout: grace }),
  spawn([fixture, "sleep", "600000"], { timeout: grace }),
];
await Promise.all(children.map((c) => c.spawned));
process.stdout.write(`ready ${kennel.sidecarPid}\n`);

if (how === "exit" || how === "throw") {
  process.stdin.once("data", () => {
    if (how === "exit") process.exit(3);
    throw new Error("the app crashed");
  });
} else {
  // Keep running until signalled.
  setInterval(() => {}, 1 << 30);
}
