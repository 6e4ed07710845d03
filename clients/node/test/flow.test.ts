// Per-child flow control through the Node client: a child whose output nobody reads stops
// alone; every other child of the same Kennel, and every request on the unread child,
// keeps flowing. Measured against a baseline taken in the same test.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { performance } from "node:perf_hooks";
import { Kennel, type KennelChild } from "../src/index.js";
import { FIXTURE, KENNEL_BIN, binaryPattern, firstDiff, pidGone, procState, textPattern, waitGone, waitUntil } from "../support/helpers.js";

const WINDOW = 256 * 1024;
/**
 * What a child's output can still hold past its window once its tree has ended: the
 * library's event channel (16 chunks of 64 KiB), a chunk in its reader and one in the
 * forwarder, and a pipe grown to the unprivileged maximum (1 MiB).
 */
const AFTER_THE_TREE_ENDED = 18 * 64 * 1024 + (1 << 20);

function pct(sorted: number[], p: number): number {
  return sorted[Math.round((sorted.length - 1) * p)]!;
}

function fmt(ms: number[]): string {
  return ms.map((m) => m.toFixed(1)).join(" ");
}

/** `n` small runs, `batch` at a time; returns the sorted spawn → result latencies (ms). */
async function smallRuns(k: Kennel, n: number, batch: number): Promise<number[]> {
  const lat: number[] = [];
  for (let done = 0; done < n; done += batch) {
    const runs = [];
    for (let i = 0; i < Math.min(batch, n - done); i++) {
      const t0 = performance.now();
      runs.push(
        k.run(FIXTURE, ["print", "hi"]).then((r) => {
          lat.push(performance.now() - t0);
          assert.equal(r.stdout.toString(), "hi\n");
          assert.equal(r.outcome.code, 0);
        }),
      );
    }
    await Promise.all(runs);
  }
  return lat.sort((a, b) => a - b);
}

/** Waits until the unread stream holds exactly its window (the sidecar then waits). */
async function filled(c: KennelChild): Promise<void> {
  await waitUntil(() => c.stdout.readableLength >= WINDOW, "the unread stream to hold its window");
  assert.equal(c.stdout.readableLength, WINDOW, "exactly one window arrives unread");
}

describe("flow control", () => {
  test("an unread flood stops alone: 10 s of small runs beside it, requests on it answered at once", async () => {
    const k = await Kennel.start({ bin: KENNEL_BIN, windowBytes: WINDOW });
    try {
      assert.ok(k.hello!.features.includes("flow_control"), JSON.stringify(k.hello!.raw));
      const baseline = await smallRuns(k, 200, 20);

      const flood = k.spawn(FIXTURE, ["flood", "--bytes", String(1 << 30)]);
      const pid = await flood.spawned;
      await filled(flood);
      const started = performance.now();
      const loaded: number[] = [];
      // Small runs keep going through the same Kennel for 10 s (and at least 200 of them).
      while (loaded.length < 200 || performance.now() - started < 10_000) {
        loaded.push(...(await smallRuns(k, 20, 20)));
        assert.equal(flood.stdout.readableLength, WINDOW, "the unread flood stays at its window");
      }
      loaded.sort((a, b) => a - b);
      const floodSecs = (performance.now() - started) / 1000;

      // Requests on the unread child resolve on their answers, without anyone reading.
      const took: number[] = [];
      const timed = async (p: () => Promise<void>) => {
        const t0 = performance.now();
        await p();
        took.push(performance.now() - t0);
      };
      for (let i = 0; i < 10; i++) await timed(() => flood.signal("SIGCONT"));
      await timed(() => flood.cancel({ ladder: [{ signal: "SIGSTOP", waitMs: 600_000 }] }));
      await timed(() => flood.kill());
      const sorted = [...took].sort((a, b) => a - b);
      console.log(`signal x10, cancel, kill of the unread flood resolved in (ms): ${fmt(took)}; p50 ${pct(sorted, 0.5).toFixed(2)}`);
      assert.ok(pct(sorted, 0.5) < 50, `median ${pct(sorted, 0.5)} ms`);
      assert.ok(sorted.at(-1)! < 1000, `slowest ${sorted.at(-1)} ms`);
      // The tree is dead at once; with it gone, the rest of its output (bounded: what its
      // pipe and the sidecar's queues held) and its outcome arrive without anyone reading,
      // so awaiting the exit of a killed child nobody reads never hangs.
      await waitUntil(() => [null, "Z"].includes(procState(pid)), "the killed flood to be dead");
      const o = await flood.outcome;
      assert.ok(
        flood.stdout.readableLength <= WINDOW + AFTER_THE_TREE_ENDED,
        `${flood.stdout.readableLength} bytes unread: more than a window and what the pipe and queues can hold`,
      );
      // Reading late gets every byte, in order.
      const chunks: Buffer[] = [];
      for await (const c of flood.stdout) chunks.push(c as Buffer);
      const all = Buffer.concat(chunks);
      assert.equal(o.reason, "cancelled");
      assert.equal(o.forced, true);
      assert.equal(o.stdout.bytes, all.length);
      assert.equal(firstDiff(all, textPattern(all.length)), -1);
      await waitGone([pid]);

      // The baseline again, now the flood is gone: the machine is shared, so the flood
      // phase is compared with the slower of the two baselines around it.
      const after = await smallRuns(k, 200, 20);
      const base = (p: number) => Math.max(pct(baseline, p), pct(after, p));
      const show = (l: number[]) => `p50 ${pct(l, 0.5).toFixed(1)} p90 ${pct(l, 0.9).toFixed(1)} max ${l.at(-1)!.toFixed(1)}`;
      console.log(
        `small run latency (ms): 200 before the flood ${show(baseline)}; ${loaded.length} beside an unread flood ` +
          `for ${floodSecs.toFixed(1)} s ${show(loaded)}; 200 after it ${show(after)}`,
      );
      assert.ok(pct(loaded, 0.5) <= 2 * base(0.5), "median at most 2x the baseline");
      assert.ok(pct(loaded, 0.9) <= 2 * base(0.9), "p90 at most 2x the baseline");
    } finally {
      await k.close();
    }
  });

  test("50 unread floods: each holds exactly its window; the heap stays bounded; late readers get every byte", async () => {
    const k = await Kennel.start({ bin: KENNEL_BIN, windowBytes: WINDOW });
    try {
      const before = process.memoryUsage();
      const n = 4 * 1024 * 1024 + 4321;
      const floods = Array.from({ length: 50 }, () => k.spawn(FIXTURE, ["binary", "--bytes", String(n)]));
      for (const f of floods) await filled(f);
      // A round trip through the sidecar after every window arrived: nothing more comes.
      await k.list();
      global.gc?.();
      const during = process.memoryUsage();
      const held = floods.reduce((s, f) => s + f.stdout.readableLength, 0);
      const grew = during.arrayBuffers + during.heapUsed - (before.arrayBuffers + before.heapUsed);
      console.log(
        `50 unread floods: ${held} bytes buffered (50 x window ${WINDOW}); heap+buffers grew by ` +
          `${(grew / 1048576).toFixed(1)} MiB (arrayBuffers ${(during.arrayBuffers / 1048576).toFixed(1)} MiB)`,
      );
      assert.equal(held, 50 * WINDOW);
      // Every stream is within its window: 50 windows, plus the read buffers they slice.
      assert.ok(grew < 3 * 50 * WINDOW, `grew ${grew} bytes`);
      // A small run still goes straight through.
      assert.equal((await k.run(FIXTURE, ["print", "hi"])).stdout.toString(), "hi\n");
      const want = binaryPattern(n);
      await Promise.all(
        floods.map(async (f) => {
          const chunks: Buffer[] = [];
          for await (const c of f.stdout) chunks.push(c as Buffer);
          assert.equal(firstDiff(Buffer.concat(chunks), want), -1);
          assert.equal((await f.outcome).code, 0);
        }),
      );
      assert.ok(floods.every((f) => f.pid !== undefined && pidGone(f.pid)));
    } finally {
      await k.close();
    }
  });

  test("a destroyed stream is credited as it arrives: the child runs to the end", async () => {
    const k = await Kennel.start({ bin: KENNEL_BIN, windowBytes: WINDOW });
    try {
      const c = k.spawn(FIXTURE, ["flood", "--bytes", String(8 * WINDOW)]);
      c.stdout.destroy();
      const o = await c.outcome;
      assert.equal(o.code, 0);
      assert.equal(o.stdout.bytes, 8 * WINDOW);
    } finally {
      await k.close();
    }
  });
});
