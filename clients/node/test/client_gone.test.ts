// Issue 12: a Node app using `kennel/process` ends while its children run — by
// process.exit, an uncaught throw, SIGTERM, SIGKILL — with the sidecar's stderr piped
// and inherited. Nothing it started may remain: not the sidecar, not its guard, not a
// keeper, not a process of any tree. Every process carries an environment marker and
// /proc is scanned for it; the bound is the children's grace + 1 s from the app's end.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn as cpSpawn, type ChildProcess } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { KENNEL_BIN, waitUntil } from "../support/helpers.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const APP = path.join(here, "..", "support", "client-gone-app.js");
const GRACE_MS = 500;
const BOUND_MS = GRACE_MS + 1000;
/** The app's processes once up: sidecar, guard, 1 + 3 + 1 tree processes. */
const UP = 6;

let serial = 0;

/** The state letter of `pid` (`Z`: zombie), or null when there is no such process. */
function procState(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
  } catch {
    return null;
  }
}

/**
 * Whether `pid` has ended: gone, or a zombie (the dead app's sidecar is reparented, and
 * pid 1 on the test machines does not reap).
 */
function ended(pid: number): boolean {
  const state = procState(pid);
  return state === null || state === "Z" || state === "X";
}

/** Pids of live (non-zombie) processes whose environment holds `KENNEL_TEST_MARK=<mark>`. */
function marked(mark: string, except: number): number[] {
  const needle = Buffer.from(`KENNEL_TEST_MARK=${mark}\0`);
  const out: number[] = [];
  for (const name of readdirSync("/proc")) {
    const pid = Number(name);
    if (!Number.isInteger(pid) || pid === except) continue;
    try {
      if (ended(pid)) continue;
      if (readFileSync(`/proc/${pid}/environ`).includes(needle)) out.push(pid);
    } catch {
      // Gone meanwhile.
    }
  }
  return out;
}

function describePid(pid: number): string {
  try {
    return `${pid} ${readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ")}`;
  } catch {
    return `${pid} (gone)`;
  }
}

/** Start the app; resolves with it and the sidecar pid once everything is up. */
async function startApp(how: string, stderr: string, mark: string): Promise<{ app: ChildProcess; sidecar: number; appErr: () => string }> {
  const app = cpSpawn(process.execPath, [APP, how, stderr], {
    env: { ...process.env, KENNEL_BIN, KENNEL_TEST_MARK: mark, CLIENT_GONE_GRACE_MS: String(GRACE_MS) },
    stdio: ["pipe", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  app.stdout!.on("data", (c: Buffer) => (out += c.toString()));
  app.stderr!.on("data", (c: Buffer) => (err += c.toString()));
  await waitUntil(() => /ready \d+\n/.test(out) || app.exitCode !== null, "the app's ready line", 30000);
  const m = /ready (\d+)\n/.exec(out);
  assert.ok(m, `the app ended before it was ready: ${err}`);
  await waitUntil(() => marked(mark, app.pid!).length >= UP, `${UP} processes of the app`, 30000);
  return { app, sidecar: Number(m[1]), appErr: () => err };
}

async function appEnds(how: "exit" | "throw" | "SIGTERM" | "SIGKILL", stderr: "pipe" | "inherit"): Promise<void> {
  const mark = `node-client-gone-${process.pid}-${serial++}`;
  const { app, sidecar, appErr } = await startApp(how === "exit" || how === "throw" ? how : "wait", stderr, mark);
  const exited = new Promise<void>((res) => app.once("exit", () => res()));
  const since = Date.now();
  if (how === "exit" || how === "throw") app.stdin!.write("go\n");
  else app.kill(how);
  await exited;
  let left: number[] = [];
  const gone = () => {
    left = marked(mark, app.pid!);
    return left.length === 0 && ended(sidecar);
  };
  while (!gone() && Date.now() - since < BOUND_MS) await new Promise((r) => setTimeout(r, 5));
  const took = Date.now() - since;
  assert.ok(
    gone(),
    `${how}, stderr ${stderr}: left after ${took} ms (bound ${BOUND_MS} ms): sidecar ${sidecar} ${ended(sidecar) ? "gone" : "alive"}; ` +
      `${left.map(describePid).join("; ")}; app stderr: ${appErr()}`,
  );
  console.log(`# ${how}, stderr ${stderr}: everything gone ${took} ms after the app was told to end (bound ${BOUND_MS} ms)`);
}

describe("client gone: a Node app ends while its children run", { concurrency: false }, () => {
  for (const stderr of ["pipe", "inherit"] as const) {
    for (const how of ["exit", "throw", "SIGTERM", "SIGKILL"] as const) {
      test(`${how}, sidecar stderr ${stderr}`, () => appEnds(how, stderr));
    }
  }
});
