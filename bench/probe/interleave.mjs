// Per-call spawn round trips, Node's `child_process.spawn` against the kennel client,
// alternating in blocks of `--block` batches of `--concurrency` (1: `bench.mjs`'s
// interleave, where every kennel batch follows a Node batch and finds the sidecar idle
// since its last one), optionally with an idle `--gap` (ms) before each kennel batch.
// Shows how much of a kennel call is the sidecar waking up after a pause. A probe for
// docs/DECISIONS.md ("Session 12"), not a benchmark target.
//
//   node bench/probe/interleave.mjs --kennel target/release/kennel \
//        --fixture target/release/kennel-fixture [--block 1] [--gap 0] \
//        [--concurrency 8] [--batches 150]
import { kennelCaller, nodeCall, probeOptions } from "./calls.mjs";

const o = probeOptions({ block: { type: "string", default: "1" }, gap: { type: "string", default: "0" } });
const [block, gap, conc, batches] = [o.block, o.gap, o.concurrency, o.batches].map(Number);
const { kennel, call } = await kennelCaller(o.kennel, o.fixture);
const own = async (f) => (await f(0))[0];
const nodeOwn = () => own((t0) => nodeCall(o.fixture, t0));
const kennelOwn = () => own(call);

const batch = (call) => Promise.all(Array.from({ length: conc }, call));
const samples = { node: [], kennel: [] };
for (let i = 0; i < 5; i++) {
  await batch(nodeOwn);
  await batch(kennelOwn);
}
for (let done = 0; done < batches; done += block) {
  for (let b = 0; b < block; b++) samples.node.push(...(await batch(nodeOwn)));
  for (let b = 0; b < block; b++) {
    if (gap > 0) await new Promise((res) => setTimeout(res, gap));
    samples.kennel.push(...(await batch(kennelOwn)));
  }
}
await kennel.close();

const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const [n, k] = [median(samples.node), median(samples.kennel)];
console.log(
  `block ${block}, gap ${gap} ms, c${conc}: per call median node ${n.toFixed(2)} ms, kennel ${k.toFixed(2)} ms, ratio ${(k / n).toFixed(3)}`,
);
