// Batches of `--concurrency` `exit 0` round trips through one kennel client, each
// recorded with its child's pid and its call and outcome times on CLOCK_MONOTONIC
// (`process.hrtime`), written as JSON to `--out` for `stages.py`, which joins them with
// the kernel's fork/exec/exit events of the same pids. Batches are 15 ms apart so that
// each starts on an idle machine. A probe for docs/DECISIONS.md ("Session 19").
//
//   perf record -k CLOCK_MONOTONIC -a -o /tmp/st.data -e sched:sched_process_fork \
//     -e sched:sched_process_exec -e sched:sched_process_exit -- \
//     node bench/probe/stages.mjs --kennel target/release/kennel \
//       --fixture target/release/kennel-fixture --batches 80 --out /tmp/st.json
//   perf script -i /tmp/st.data > /tmp/st.txt
//   python3 bench/probe/stages.py /tmp/st.txt /tmp/st.json
import { writeFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { probeOptions } from "./calls.mjs";
import { Kennel } from "../../clients/node/dist/src/index.js";

const o = probeOptions({ out: { type: "string" } });
if (!o.out) throw new Error("--out is required");
const k = await Kennel.start({ bin: o.kennel });
const ms = () => Number(process.hrtime.bigint()) / 1e6;
const calls = [];
const call = async (batch) => {
  const start = ms();
  const c = k.spawn(o.fixture, ["exit", "0"]);
  c.stdout.resume();
  c.stderr.resume();
  const out = await c.outcome;
  const end = ms();
  if (out.code !== 0) throw new Error(`kennel: ${JSON.stringify(out.raw)}`);
  calls.push({ batch, pid: out.raw.pid, start, end });
};
for (let b = 0; b < Number(o.batches); b++) {
  await Promise.all(Array.from({ length: Number(o.concurrency) }, () => call(b)));
  await sleep(15);
}
await k.close();
writeFileSync(o.out, JSON.stringify(calls));
