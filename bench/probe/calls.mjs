// What the spawn probes share: their options and one `exit 0` round trip each way.
// Each call resolves with [its own time, its start from `t0`] in ms.
import { spawn as nodeSpawn } from "node:child_process";
import { parseArgs } from "node:util";
import { Kennel } from "../../clients/node/dist/src/index.js";

export const now = () => performance.now();

/** `--kennel`, `--fixture`, `--concurrency` (8), `--batches` (150) and `extra` options. */
export function probeOptions(extra = {}) {
  const { values } = parseArgs({
    options: {
      kennel: { type: "string" },
      fixture: { type: "string" },
      concurrency: { type: "string", default: "8" },
      batches: { type: "string", default: "150" },
      ...extra,
    },
  });
  if (!values.kennel || !values.fixture) throw new Error("--kennel and --fixture are required");
  return values;
}

/** Node's `child_process.spawn` of the fixture until `'close'`. */
export function nodeCall(fixture, t0) {
  return new Promise((resolve, reject) => {
    const t = now();
    const c = nodeSpawn(fixture, ["exit", "0"], { stdio: ["ignore", "pipe", "pipe"] });
    c.stdout.resume();
    c.stderr.resume();
    c.on("error", reject);
    c.on("close", (code) => (code === 0 ? resolve([now() - t, t - t0]) : reject(new Error(`exit ${code}`))));
  });
}

/** A kennel client on `bin`, and its round trip: spawn until the outcome. */
export async function kennelCaller(bin, fixture) {
  const kennel = await Kennel.start({ bin });
  const call = async (t0) => {
    const t = now();
    const c = kennel.spawn(fixture, ["exit", "0"]);
    c.stdout.resume();
    c.stderr.resume();
    const out = await c.outcome;
    if (out.code !== 0) throw new Error(`kennel: ${JSON.stringify(out.raw)}`);
    return [now() - t, t - t0];
  };
  return { kennel, call };
}
