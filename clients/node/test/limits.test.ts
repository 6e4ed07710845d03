// Resource limits of a whole tree through the client (issue 18): `limits` on spawn,
// `usage` and `reason: "memory_limit"` in the outcome. Linux with root and the cgroup
// controllers only; elsewhere the tests check that asking is refused as `unsupported`.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Kennel, KennelError } from "../src/index.js";
import { FIXTURE, sidecarForTests } from "../support/helpers.js";

let k: Kennel;
sidecarForTests((started) => (k = started));

/** Whether this host can enforce limits (a cgroup tree and root, on Linux). */
function limitable(): boolean {
  return process.platform === "linux" && process.getuid?.() === 0 && (k.hello?.containment ?? []).includes("cgroup");
}

describe("limits", () => {
  test("300 forks under pidsMax 64: refused forks counted, at most 64 alive", async (t) => {
    if (!limitable()) return t.skip("needs Linux, root and a cgroup");
    const r = await k.run(FIXTURE, ["fork-bomb", "--count", "300", "--exit"], { limits: { pidsMax: 64 } });
    const line = r.stdout.toString().split("\n").find((l) => l.startsWith("forks "));
    assert.ok(line, r.stdout.toString());
    const [started = NaN, refused = NaN] = line.slice(6).split(" ").map(Number);
    assert.ok(started < 64 && started + refused === 300, line);
    assert.equal(r.outcome.usage.forksRefused, refused);
    assert.ok((r.outcome.usage.processes ?? Infinity) <= 64, JSON.stringify(r.outcome.usage));
    assert.equal(r.outcome.usage.processesExact, false);
  });

  test("1 GiB under memoryMaxBytes 64 MiB is killed with reason memory_limit", async (t) => {
    if (!limitable()) return t.skip("needs Linux, root and a cgroup");
    const r = await k.run(FIXTURE, ["alloc", "--mib", "1024"], { limits: { memoryMaxBytes: 64 * 1024 * 1024 } });
    assert.equal(r.outcome.reason, "memory_limit");
    assert.equal(r.outcome.signalName, "SIGKILL");
    assert.ok((r.outcome.usage.memoryPeakBytes ?? Infinity) <= 64 * 1024 * 1024, JSON.stringify(r.outcome.usage));
  });

  test("a limit the tree cannot get fails as unsupported, unless bestEffort", async () => {
    const off = { cgroup: false };
    await assert.rejects(k.run(FIXTURE, ["exit", "0"], { containment: off, limits: { pidsMax: 8 } }), (e: unknown) => {
      assert.ok(e instanceof KennelError);
      assert.equal(e.code, "unsupported");
      return true;
    });
    const r = await k.run(FIXTURE, ["exit", "0"], { containment: off, limits: { pidsMax: 8, bestEffort: true } });
    assert.equal(r.outcome.code, 0);
    assert.deepEqual(r.outcome.limitsSkipped, ["pids"]);
  });
});
