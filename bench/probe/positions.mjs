// Per-call spawn round trips by position in a batch, Node's `child_process.spawn`
// against the kennel client, batches alternating. Each call is timed from its own call
// (as `bench.mjs`'s `spawn.node.cN` rows) and its start is shown from the batch's start,
// so a staggered batch (Node's blocking spawn) and a shared one (the sidecar's) can be
// told apart. A probe for docs/DECISIONS.md ("Session 11"), not a benchmark target.
//
//   node bench/probe/positions.mjs --kennel target/release/kennel \
//        --fixture target/release/kennel-fixture [--concurrency 8] [--batches 150]
import { kennelCaller, nodeCall, now, probeOptions } from "./calls.mjs";

const o = probeOptions();
const conc = Number(o.concurrency);
const { kennel, call: kennelCall } = await kennelCaller(o.kennel, o.fixture);
const variants = [["node", (t0) => nodeCall(o.fixture, t0)], ["kennel", kennelCall]];
const results = variants.map(() => []);
for (let b = 0; b < Number(o.batches); b++) {
  for (const [i, [, call]] of variants.entries()) {
    const t0 = now();
    results[i].push(await Promise.all(Array.from({ length: conc }, () => call(t0))));
  }
}
await kennel.close();

const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
for (const [i, [name]] of variants.entries()) {
  const all = results[i].flat().map(([own]) => own);
  const at = (k, j) => median(results[i].map((batch) => batch[k][j])).toFixed(2);
  const positions = Array.from({ length: conc }, (_, k) => k);
  console.log(`${name}: per call median ${median(all).toFixed(2)} ms, mean ${(all.reduce((a, b) => a + b, 0) / all.length).toFixed(2)} ms`);
  console.log(`  per call by position (ms):   ${positions.map((k) => at(k, 0)).join(" ")}`);
  console.log(`  call made at, from batch (ms): ${positions.map((k) => at(k, 1)).join(" ")}`);
}
