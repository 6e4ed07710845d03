// Matrix driver: kennel through its Node client's drop-in module (`kennel/process`), the
// sidecar binary from env KENNEL_BIN. Final status: `outcome` (after the drain).
import { spawn } from "../../clients/node/dist/src/process.js";
import { exitStatus } from "../../clients/node/dist/src/index.js";
import { runJob, spawnPiped } from "./common.js";

runJob({
  name: "kennel-node",
  start(job, hooks) {
    const proc = spawnPiped(spawn, job, hooks, { limits: job.limits });
    const final = proc.outcome.then((o) => ({
      code: exitStatus(o),
      signal: o.signalName ?? null,
      status: o.signalName ? `signal ${o.signalName} (${exitStatus(o)})` : `code ${o.code}`,
      extra: { reason: o.reason, drain: o.drain, leftoversKilled: o.leftoversKilled, containment: o.containment, forced: o.forced, usage: o.usage },
    }));
    return { stdin: proc.stdin, final };
  },
});
