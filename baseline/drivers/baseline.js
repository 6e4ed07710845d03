// Matrix driver: the Node baseline (process.js), `spawn` + what `run()` waits for.
import { finished, spawn } from "../process.js";
import { runJob, spawnPiped } from "./common.js";

runJob({
  name: "baseline",
  start(job, hooks) {
    const proc = spawnPiped(spawn, job, hooks);
    const final = finished(proc).then((code) => ({ code, signal: null, status: `code ${code}`, extra: {} }));
    return { stdin: proc.stdin, final };
  },
});
