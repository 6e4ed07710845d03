// kennel/process/effect: the Effect variants, the Service and its layers, against the real sidecar.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { Effect, Exit } from "effect";
import * as E from "../src/process-effect.js";
import * as P from "../src/process.js";
import { Process } from "../src/process-effect.js";
import { Collector, FIXTURE, waitGone } from "../support/helpers.js";

describe("effect: surface", () => {
  test("the namespace has the Effect variants, the Service, the layers and the plain API", () => {
    for (const n of ["spawnEffect", "runEffect", "textEffect", "linesEffect", "stopEffect", "descendantsEffect", "terminateTreeEffect"] as const) {
      assert.equal(typeof Process[n], "function", n);
      assert.equal(Process[n], E[n], n);
    }
    assert.ok(Process.Service);
    assert.ok(Process.layer);
    assert.equal(Process.defaultLayer, Process.layer);
    for (const n of ["spawn", "run", "text", "lines", "stop", "exists", "descendants", "terminateTree", "RunFailedError"] as const) assert.equal(Process[n], P[n], n);
    assert.equal(Process.TERMINATION_GRACE_MS, 500);
    const t: Process.Interface | undefined = undefined;
    assert.equal(t, undefined);
  });

  test("the plain entry point does not import effect (apps without Effect don't pay)", () => {
    // Walk the static import graph of dist/src/process.js.
    const seen = new Set<string>();
    const specs = new Set<string>();
    const walk = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      const src = readFileSync(file, "utf8");
      for (const m of src.matchAll(/(?:^|\n)\s*(?:import|export)[^"';]*?from\s*["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/g)) {
        const spec = m[1] ?? m[2]!;
        specs.add(spec);
        if (spec.startsWith(".")) walk(path.resolve(path.dirname(file), spec));
      }
    };
    walk(fileURLToPath(new URL("../src/process.js", import.meta.url)));
    assert.ok(seen.size >= 4, [...seen].join(" "));
    assert.ok(!specs.has("effect") && ![...specs].some((s) => s.startsWith("effect/")), [...specs].join(" "));
    assert.ok(!seen.has(fileURLToPath(new URL("../src/process-effect.js", import.meta.url))));
  });
});

describe("effect: through the Service and defaultLayer", () => {
  const use = <A>(f: (p: E.Interface) => Effect.Effect<A, unknown>) =>
    Effect.runPromise(
      Effect.provide(
        Effect.gen(function* () {
          return yield* f(yield* E.Service);
        }),
        E.defaultLayer,
      ),
    );

  test("run / text / lines", async () => {
    const r = await use((p) => p.run([FIXTURE, "print", "x", "--stderr", "y"]));
    assert.equal(r.code, 0);
    assert.equal(r.stdout.toString(), "x\n");
    assert.equal(r.stderr.toString(), "y\n");
    assert.equal((await use((p) => p.text([FIXTURE, "print", "héllo"]))).text, "héllo\n");
    assert.deepEqual(await use((p) => p.lines([FIXTURE, "print", "a\r\n\nb"])), ["a", "b"]);
  });

  test("failures: RunFailedError and ENOENT in the error channel", async () => {
    const exit = await Effect.runPromiseExit(E.runEffect([FIXTURE, "exit", "3"]));
    assert.ok(Exit.isFailure(exit));
    const e1 = await Effect.runPromise(Effect.flip(E.runEffect([FIXTURE, "exit", "3"])));
    assert.ok(e1 instanceof P.RunFailedError && e1.code === 3 && e1.name === "ProcessRunFailedError");
    const e2 = await Effect.runPromise(Effect.flip(E.textEffect(["kennel-no-such-program-xyz"])));
    assert.equal((e2 as NodeJS.ErrnoException).code, "ENOENT");
    const r = await Effect.runPromise(E.runEffect(["kennel-no-such-program-xyz"], { nothrow: true }));
    assert.equal(r.code, 1);
  });

  test("spawn, descendants, terminateTree, stop", async () => {
    const p = await use((s) => s.spawn([FIXTURE, "tree", "--depth", "2", "--width", "2"], { stdout: "pipe" }));
    const pids = await new Collector(p.stdout!).pids(3);
    const leader = await p.spawned;
    const ds = await use((s) => s.descendants(leader));
    assert.deepEqual(ds.sort(), pids.filter((x) => x !== leader).sort());
    await use((s) => s.terminateTree({ pid: leader }));
    await waitGone(pids);
    const q = await Effect.runPromise(E.spawnEffect([FIXTURE, "sleep", "60000"], { stdout: "pipe" }));
    const [qpid] = await new Collector(q.stdout!).pids(1);
    await Effect.runPromise(E.stopEffect(q));
    assert.equal(q.signalCode, "SIGTERM");
    await waitGone([qpid!]);
  });

  test("spawnEffect with an empty command is a defect, as in the original", async () => {
    const exit = await Effect.runPromiseExit(E.spawnEffect([]));
    assert.ok(Exit.isFailure(exit));
  });
});
