// examples/desktop-app.ts runs as documented: many concurrent tools, cancel from the UI,
// everything stopped on quit, nothing left behind.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { KENNEL_BIN, waitGone } from "../support/helpers.js";

const example = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "examples", "desktop-app.js");

test("examples/desktop-app: 40 concurrent tools, UI cancel, stop all on quit", { timeout: 120_000 }, async () => {
  const { code, stdout, stderr } = await new Promise<{ code: number; stdout: string; stderr: string }>((res) =>
    execFile(process.execPath, [example, "--tools", "40"], { encoding: "utf8", env: { ...process.env, KENNEL_BIN }, timeout: 110_000 }, (err, stdout, stderr) =>
      res({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
    ),
  );
  assert.equal(code, 0, stderr + stdout);
  const lines = stdout.trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
  const { summary } = lines.at(-1) as { summary: Record<string, unknown> };
  assert.ok(summary, stdout);
  assert.equal(summary["tools"], 43);
  assert.equal(summary["ok"], 40);
  for (let i = 0; i < 40; i++) assert.ok(lines.some((l) => l["tool"] === `t${i}` && l["out"] === `tool-${i}`), `t${i}`);
  assert.deepEqual(summary["cancelled"], { tool: "slow-grep", ok: false, code: 143, reason: "cancelled" });
  assert.deepEqual(summary["failed"], { tool: "failing", ok: false, code: 3, reason: "exited" });
  assert.deepEqual(summary["missing"], { tool: "missing", ok: false, error: "ENOENT" });
  assert.ok(lines.some((l) => l["event"] === "cancelled" && l["tool"] === "long-build" && l["status"] === 143 && l["reason"] === "cancelled"));
  assert.deepEqual(summary["stoppedOnQuit"], ["SIGTERM", "SIGTERM"]);
  const pids = summary["checkedPids"] as number[];
  // dev-server leader + its two sleeps, watcher leader (+ its current sleep, if any).
  assert.ok(pids.length >= 4, JSON.stringify(pids));
  assert.deepEqual(summary["survivors"], []);
  // Independently of the example's own check: every pid of the stopped trees is reaped.
  await waitGone(pids);
});
