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
import { spawn as nodeSpawn } from "node:child_process";
import { parseArgs } from "node:util";
import { Kennel } from "../../clients/node/dist/src/index.js";

const { values: o } = parseArgs({
  options: {
    kennel: { type: "string" },
    fixture: { type: "string" },
    block: { type: "string", default: "1" },
    gap: { type: "string", default: "0" },
    concurrency: { type: "string", default: "8" },
    batches: { type: "string", default: "150" },
  },
});
if (!o.kennel || !o.fixture) throw new Error("--kennel and --fixture are required");
const [block, gap, conc, batches] = [o.block, o.gap, o.concurrency, o.batches].map(Number);
const now = () => performance.now();

function nodeCall() {
  return new Promise((resolve, reject) => {
    const t = now();
    const c = nodeSpawn(o.fixture, ["exit", "0"], { stdio: ["ignore", "pipe", "pipe"] });
    c.stdout.resume();
    c.stderr.resume();
    c.on("error", reject);
    c.on("close", (code) => (code === 0 ? resolve(now() - t) : reject(new Error(`exit ${code}`))));
  });
}

const kennel = await Kennel.start({ bin: o.kennel });
async function kennelCall() {
  const t = now();
  const c = kennel.spawn(o.fixture, ["exit", "0"]);
  c.stdout.resume();
  c.stderr.resume();
  const out = await c.outcome;
  if (out.code !== 0) throw new Error(`kennel: ${JSON.stringify(out.raw)}`);
  return now() - t;
}

const batch = (call) => Promise.all(Array.from({ length: conc }, call));
const samples = { node: [], kennel: [] };
for (let i = 0; i < 5; i++) {
  await batch(nodeCall);
  await batch(kennelCall);
}
for (let done = 0; done < batches; done += block) {
  for (let b = 0; b < block; b++) samples.node.push(...(await batch(nodeCall)));
  for (let b = 0; b < block; b++) {
    if (gap > 0) await new Promise((res) => setTimeout(res, gap));
    samples.kennel.push(...(await batch(kennelCall)));
  }
}
await kennel.close();

const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const [n, k] = [median(samples.node), median(samples.kennel)];
console.log(
  `block ${block}, gap ${gap} ms, c${conc}: per call median node ${n.toFixed(2)} ms, kennel ${k.toFixed(2)} ms, ratio ${(k / n).toFixed(3)}`,
);
