// Kennel-only load for profiling: batches of `--concurrency` `exit 0` round trips through
// one sidecar for `--seconds`, then prints the sidecar's pid and CPU per spawn.
//   node load.mjs --kennel PATH --fixture PATH [--concurrency 8] [--seconds 20]
import { readFileSync } from "node:fs";
import { probeOptions, now } from "./calls.mjs";
import { Kennel } from "../../clients/node/dist/src/index.js";

const o = probeOptions({ seconds: { type: "string", default: "20" } });
const k = await Kennel.start({ bin: o.kennel, stderr: "inherit" });
const cpu = (pid) => {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return (Number(f[11]) + Number(f[12])) * 10;
};
console.error(`sidecar ${k.sidecarPid}`);
const call = async () => {
  const c = k.spawn(o.fixture, ["exit", "0"]);
  c.stdout.resume();
  c.stderr.resume();
  const r = await c.outcome;
  if (r.code !== 0) throw new Error(JSON.stringify(r.raw));
};
const end = now() + Number(o.seconds) * 1000;
const c0 = cpu(k.sidecarPid);
let n = 0;
while (now() < end) {
  await Promise.all(Array.from({ length: Number(o.concurrency) }, call));
  n += Number(o.concurrency);
}
console.log(`spawns ${n} sidecar_cpu_per_spawn_ms ${((cpu(k.sidecarPid) - c0) / n).toFixed(3)}`);
await k.close();
