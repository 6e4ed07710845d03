// The Node half of kennel's benchmarks (run by `cargo xtask bench`).
//
//   node bench.mjs <spawn|throughput|cancel|hol|echo|cpu> --fixture PATH --kennel PATH [--runs N]
//                  [--concurrency C] [--bytes B] [--window W] [--floor PATH-TO-kennel-bench]
//
// Prints one line per figure, the format `kennel-bench` uses:
//   row <TAB> id <TAB> unit <TAB> median <TAB> p99 <TAB> samples <TAB> label
// Variants that are compared run interleaved in the same process, so a busy machine
// slows them alike. The kennel client talks to one `kennel serve` with its default
// (full) containment: cgroup where writable, keeper, process group.

import { spawn as nodeSpawn } from "node:child_process";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { execa } from "execa";
import { Kennel } from "../../clients/node/dist/src/index.js";

function parseArgs(argv) {
  const [mode, ...rest] = argv;
  const opts = { mode, runs: 200, concurrency: 1, bytes: 1 << 30 };
  for (let i = 0; i < rest.length; i += 2) {
    const key = rest[i].replace(/^--/, "");
    const val = rest[i + 1];
    opts[key] = ["runs", "concurrency", "bytes", "window"].includes(key) ? Number(val) : val;
  }
  if (!opts.fixture || !opts.kennel) throw new Error("--fixture and --kennel are required");
  return opts;
}

function percentile(sorted, q) {
  const rank = Math.ceil(q * sorted.length);
  return sorted[Math.min(Math.max(rank, 1), sorted.length) - 1];
}

function row(id, unit, label, samples) {
  const s = [...samples].sort((a, b) => a - b);
  console.log(
    ["row", id, unit, percentile(s, 0.5).toFixed(4), percentile(s, 0.99).toFixed(4), s.length, label].join("\t"),
  );
}

const now = () => performance.now();

// --- spawn round trip -----------------------------------------------------------------

// Each round trip resolves with [time from its own call, time from `t0`] (`t0`: when
// the batch it belongs to began; the same as its own call when omitted).
function nodeRoundTrip(fixture, t0) {
  return new Promise((resolve, reject) => {
    const t = now();
    const c = nodeSpawn(fixture, ["exit", "0"], { stdio: ["ignore", "pipe", "pipe"] });
    c.stdout.resume();
    c.stderr.resume();
    c.on("error", reject);
    c.on("close", (code) => (code === 0 ? resolve(since(t, t0)) : reject(new Error(`exit ${code}`))));
  });
}

const since = (t, t0) => [now() - t, now() - (t0 ?? t)];

async function execaRoundTrip(fixture, t0) {
  const t = now();
  const r = await execa(fixture, ["exit", "0"]);
  if (r.exitCode !== 0) throw new Error(`execa: exit ${r.exitCode}`);
  return since(t, t0);
}

async function kennelRoundTrip(kennel, fixture, t0) {
  const t = now();
  const c = kennel.spawn(fixture, ["exit", "0"]);
  c.stdout.resume();
  c.stderr.resume();
  const o = await c.outcome;
  if (o.code !== 0 || o.reason !== "exited") throw new Error(`kennel: ${JSON.stringify(o.raw)}`);
  return since(t, t0);
}

// The machine's floor for a batch (`kennel-bench floor`, bench/src/floor.rs): one
// helper process `posix_spawn`s the batch back to back from one thread (no pipes, no
// supervisor) and reaps each child as it ends. The calls made in one tick form one
// batch, sent as one line; each call resolves with [time from its own spawn call, time
// from the batch's start], measured by the helper.
class Floor {
  #proc;
  #sent = []; // batches sent, oldest first: their calls' [resolve, reject]
  #gathering = null;
  #ended = null;

  constructor(bin, fixture, kennel) {
    this.#proc = nodeSpawn(bin, ["floor", "--fixture", fixture, "--kennel", kennel], { stdio: ["pipe", "pipe", "inherit"] });
    createInterface({ input: this.#proc.stdout }).on("line", (line) => this.#answer(line));
    this.#proc.on("exit", (code, signal) => {
      this.#ended = new Error(`kennel-bench floor ended (${code ?? signal})`);
      for (const calls of this.#sent) for (const [, reject] of calls) reject(this.#ended);
      this.#sent = [];
    });
  }

  call() {
    return new Promise((resolve, reject) => {
      if (this.#ended) return reject(this.#ended);
      if (!this.#gathering) {
        this.#gathering = [];
        queueMicrotask(() => {
          const calls = this.#gathering;
          this.#gathering = null;
          this.#sent.push(calls);
          this.#proc.stdin.write(`${calls.length}\n`);
        });
      }
      this.#gathering.push([resolve, reject]);
    });
  }

  #answer(line) {
    const [tag, own, fromStart] = line.split("\t");
    const calls = this.#sent.shift();
    const times = [own, fromStart].map((xs) => (xs ?? "").split(",").map(Number));
    if (tag !== "batch" || !calls || times.some((t) => t.length !== calls.length)) {
      throw new Error(`kennel-bench floor: unexpected answer ${JSON.stringify(line)}`);
    }
    calls.forEach(([resolve], i) => resolve([times[0][i], times[1][i]]));
  }

  async close() {
    this.#proc.stdin.end();
    if (!this.#ended) await once(this.#proc, "exit");
  }
}

async function spawnBench(o, kennel) {
  const floor = o.floor ? new Floor(o.floor, o.fixture, o.kennel) : null;
  try {
    await spawnVariants(o, kennel, floor);
  } finally {
    await floor?.close();
  }
}

async function spawnVariants(o, kennel, floor) {
  const variants = [
    ["node", "Node child_process.spawn + 'close' (piped)", (t0) => nodeRoundTrip(o.fixture, t0)],
    ["execa", "execa 9 (piped, awaited)", (t0) => execaRoundTrip(o.fixture, t0)],
    // `hello` lists every tier the host offers; `pid_namespace` is opt-in (not used here).
    ["kennel", `kennel client → sidecar, default containment (${kennel.hello.containment.filter((t) => t !== "pid_namespace").join(" + ")})`, (t0) => kennelRoundTrip(kennel, o.fixture, t0)],
  ];
  if (floor) {
    variants.push(["floor", "the machine's floor: `posix_spawn` back to back from one thread, no pipes, no supervisor (kennel-bench floor), reaped as each ends", () => floor.call()]);
  }
  for (const [, , f] of variants) await f(); // warm-up
  const samples = variants.map(() => []);
  const fromBatch = variants.map(() => []);
  const rounds = Math.ceil(o.runs / o.concurrency);
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < variants.length; i++) {
      const batch = [];
      const t0 = now();
      for (let k = 0; k < o.concurrency; k++) batch.push(variants[i][2](t0));
      for (const [own, all] of await Promise.all(batch)) {
        samples[i].push(own);
        fromBatch[i].push(all);
      }
    }
  }
  const mode = o.concurrency === 1 ? "seq" : `c${o.concurrency}`;
  variants.forEach(([key, label], i) => row(`spawn.node.${mode}.${key}`, "ms", label, samples[i]));
  // In a batch, Node's own spawn blocks the event loop until the child's exec, so its
  // k-th spawn is only called once the k-1 before it have forked: timed from its own
  // call, that wait is not counted. Timed from the batch's start (when the caller
  // asked for all of them), it is.
  if (o.concurrency > 1) {
    variants.forEach(([key, label], i) => row(`spawn.node.${mode}.batch.${key}`, "ms", `${label}, timed from the batch's start`, fromBatch[i]));
  }
  await spawnCost(o, variants.filter(([key]) => key !== "execa"), mode);
}

// Machine-wide busy CPU so far, in ms: every process (Node, the sidecar, the
// children), from the first line of /proc/stat (USER_HZ, 100 per second on Linux).
function busyMs() {
  const f = readFileSync("/proc/stat", "utf8").split("\n", 1)[0].trim().split(/\s+/).slice(1).map(Number);
  const idle = f[3] + f[4];
  return ((f.reduce((a, b) => a + b, 0) - idle) * 1000) / 100;
}

// What a spawn costs, apart from how long one call waits: batches of `concurrency`
// back to back for each variant (three phases each, interleaved), the machine's busy
// CPU per spawn and the wall time per spawn (1 / throughput).
async function spawnCost(o, variants, mode) {
  const batches = Math.max(1, Math.ceil((2 * o.runs) / o.concurrency));
  const n = batches * o.concurrency;
  const cpu = variants.map(() => []);
  const wall = variants.map(() => []);
  for (let phase = 0; phase < 3; phase++) {
    for (let i = 0; i < variants.length; i++) {
      const [c0, t0] = [busyMs(), now()];
      for (let b = 0; b < batches; b++) {
        await Promise.all(Array.from({ length: o.concurrency }, () => variants[i][2]()));
      }
      wall[i].push((now() - t0) / n);
      cpu[i].push((busyMs() - c0) / n);
    }
  }
  const how = `${n} spawns in batches of ${o.concurrency}, 3 phases`;
  variants.forEach(([key, label], i) => {
    row(`spawn.node.${mode}.cpu.${key}`, "ms", `${label}: the machine's CPU per spawn (every process: Node, sidecar, children; /proc/stat), ${how}`, cpu[i]);
    row(`spawn.node.${mode}.pace.${key}`, "ms", `${label}: wall time per spawn (1 / throughput), ${how}`, wall[i]);
  });
}

// --- throughput -----------------------------------------------------------------------

// `relay`: the same flood through `cat` (`fixture | cat`), the ceiling of any process
// that relays the bytes by copying them, measured beside the sidecar.
function nodeFlood(fixture, bytes, relay = false) {
  return new Promise((resolve, reject) => {
    const t = now();
    let got = 0;
    const [cmd, args] = relay
      ? ["sh", ["-c", '"$0" flood --bytes "$1" | cat', fixture, String(bytes)]]
      : [fixture, ["flood", "--bytes", String(bytes)]];
    const c = nodeSpawn(cmd, args, { stdio: ["ignore", "pipe", "ignore"] });
    c.stdout.on("data", (b) => (got += b.length));
    c.on("error", reject);
    c.on("close", (code) =>
      code === 0 && got === bytes ? resolve(now() - t) : reject(new Error(`node flood: exit ${code}, ${got} bytes`)),
    );
  });
}

// `stdout: "direct"`: the child writes into a connection to the client's own socket,
// which the client reads itself (no sidecar in the data path).
async function kennelFlood(kennel, fixture, bytes, stdout = "pipe") {
  const t = now();
  let got = 0;
  const c = kennel.spawn(fixture, ["flood", "--bytes", String(bytes)], { stderr: "null", stdout });
  c.stdout.on("data", (b) => (got += b.length));
  const o = await c.outcome;
  if (o.code !== 0 || got !== bytes) throw new Error(`kennel flood: ${JSON.stringify(o.raw)}, ${got} bytes`);
  return now() - t;
}

// Runs `f` (which resolves with its wall time) and pushes the CPU time this Node process
// spent meanwhile, in seconds, into `cpu`.
async function withCpu(cpu, f) {
  const c0 = process.cpuUsage();
  const ms = await f();
  const d = process.cpuUsage(c0);
  cpu.push((d.user + d.system) / 1e6);
  return ms;
}

async function throughputBench(o, kennel) {
  const gib = (ms) => (ms / 1000) * ((1 << 30) / o.bytes);
  const perGib = (s) => s * ((1 << 30) / o.bytes);
  const cpuBase = [];
  const cpuDirect = [];
  // The same client on JSON `stdout` events (the framing before binary frames), so
  // the gain of the frames is measured in the same run.
  const json = await Kennel.start({ bin: o.kennel, stderr: "inherit", framing: "json", windowBytes: o.window });
  const base = [];
  const relay = [];
  const ours = [];
  const ours_json = [];
  const ours_direct = [];
  try {
    for (let r = 0; r < o.runs; r++) {
      base.push(gib(await withCpu(cpuBase, () => nodeFlood(o.fixture, o.bytes))));
      relay.push(gib(await nodeFlood(o.fixture, o.bytes, true)));
      ours.push(gib(await kennelFlood(kennel, o.fixture, o.bytes)));
      ours_json.push(gib(await kennelFlood(json, o.fixture, o.bytes)));
      ours_direct.push(gib(await withCpu(cpuDirect, () => kennelFlood(kennel, o.fixture, o.bytes, "direct"))));
    }
  } finally {
    await json.close();
  }
  const mib = o.bytes / (1 << 20);
  row("throughput.node.direct", "s/GiB", `Node reading a direct child pipe ('data' events, ${mib} MiB per run)`, base);
  row("throughput.node.relay", "s/GiB", `Node reading the same flood relayed by cat (fixture | cat: the ceiling of a copying relay) (${mib} MiB per run)`, relay);
  row("throughput.node.kennel", "s/GiB", `kennel client stdout stream via the sidecar, binary data frames (${mib} MiB per run)`, ours);
  row("throughput.node.kennel_json", "s/GiB", `the same with JSON stdout events (framing: "json") (${mib} MiB per run)`, ours_json);
  if (!kennel.hello.features.includes("direct_sockets")) return; // Windows: the stream would be piped
  row("throughput.node.kennel_direct", "s/GiB", `kennel client stdout stream, direct (a connection to the client's socket; no sidecar in the data path) (${mib} MiB per run)`, ours_direct);
  row("throughput.node.cpu.direct", "s/GiB", `Node's CPU time reading a direct child pipe (process.cpuUsage)`, cpuBase.map(perGib));
  row("throughput.node.cpu.kennel_direct", "s/GiB", `Node's CPU time reading the kennel client's direct stream (process.cpuUsage)`, cpuDirect.map(perGib));
}

// --- head-of-line: a small run beside an unread flood ---------------------------------

async function smallRun(kennel, fixture) {
  const t = now();
  const r = await kennel.run(fixture, ["print", "hi"]);
  if (r.outcome.code !== 0 || r.stdout.toString() !== "hi\n") throw new Error(`kennel run: ${JSON.stringify(r.outcome.raw)}`);
  return now() - t;
}

// The same Kennel runs `print hi` alone, then beside a child flooding stdout that nobody
// reads (before flow control, the client paused the whole sidecar for it and the small
// run never finished). Interleaved: one idle sample, one loaded sample.
async function holBench(o, kennel) {
  const idle = [];
  const loaded = [];
  await smallRun(kennel, o.fixture); // warm-up
  for (let r = 0; r < o.runs; r++) {
    idle.push(await smallRun(kennel, o.fixture));
    const flood = kennel.spawn(o.fixture, ["flood", "--bytes", String(1 << 40)], { stderr: "null" });
    await flood.spawned;
    // The flood has filled its window (and the client holds it unread).
    while (flood.stdout.readableLength === 0) await new Promise((res) => setTimeout(res, 1));
    loaded.push(await smallRun(kennel, o.fixture));
    await flood.kill();
    flood.stdout.destroy();
    await flood.outcome;
  }
  row("hol.node.idle", "ms", "kennel client: run(['print','hi']) alone", idle);
  row("hol.node.flood", "ms", "the same beside a child flooding stdout that nobody reads (same Kennel)", loaded);
}

// --- CPU per spawn (not run by `cargo xtask bench`) ----------------------------------

// utime + stime, and cutime + cstime (reaped children), of a process, in ms.
function cpuOf(pid) {
  const s = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
  const tick = 10; // USER_HZ is 100 on Linux
  return { own: (Number(f[11]) + Number(f[12])) * tick, children: (Number(f[13]) + Number(f[14])) * tick };
}

// `--runs` spawns of `exit 0` by `--concurrency` workers that each start the next one as
// soon as theirs ends: CPU per spawn in the Node process, the sidecar and the children.
async function cpuBench(o, kennel) {
  const loop = async (f) => {
    let left = o.runs;
    const worker = async () => {
      while (left-- > 0) await f();
    };
    const t = now();
    await Promise.all(Array.from({ length: o.concurrency }, worker));
    return (now() - t) / o.runs;
  };
  const self = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  };
  await loop(() => nodeRoundTrip(o.fixture));
  await loop(() => kennelRoundTrip(kennel, o.fixture));
  let [c0, p0] = [self(), cpuOf(process.pid)];
  const nodeWall = await loop(() => nodeRoundTrip(o.fixture));
  let [c1, p1] = [self(), cpuOf(process.pid)];
  const n = o.runs;
  const mode = `c${o.concurrency}`;
  row(`cpu.node.${mode}.node`, "ms", "Node child_process.spawn: CPU per spawn in the Node process", [(c1 - c0) / n]);
  row(`cpu.node.${mode}.node_children`, "ms", "the same: CPU per spawn of the children (reaped)", [(p1.children - p0.children) / n]);
  row(`cpu.node.${mode}.node_wall`, "ms", "the same: wall time per spawn", [nodeWall]);
  const sc = kennel.sidecarPid;
  [c0, p0] = [self(), cpuOf(sc)];
  const kennelWall = await loop(() => kennelRoundTrip(kennel, o.fixture));
  [c1, p1] = [self(), cpuOf(sc)];
  row(`cpu.node.${mode}.client`, "ms", "kennel client: CPU per spawn in the Node process", [(c1 - c0) / n]);
  row(`cpu.node.${mode}.sidecar`, "ms", "the same: CPU per spawn in the sidecar", [(p1.own - p0.own) / n]);
  row(`cpu.node.${mode}.sidecar_children`, "ms", "the same: CPU per spawn of the sidecar's children (reaped)", [(p1.children - p0.children) / n]);
  row(`cpu.node.${mode}.kennel_wall`, "ms", "the same: wall time per spawn", [kennelWall]);
}

// --- echo beside a churn (not run by `cargo xtask bench`) ------------------------------

// One line through a long-lived `echo-stdin` child (write, then wait for it on stdout).
async function echoOnce(child, out, i) {
  const line = `ping ${i}\n`;
  const t = now();
  await child.write(line);
  while (!out.text.endsWith(line)) await new Promise((res) => setImmediate(res));
  return now() - t;
}

// The echo round trip alone, then while the same Kennel runs a churn of `exit 0` children
// (`--concurrency` in flight): a request on one child must not wait for the spawns of
// others (issue 16). `--runs` round trips each.
async function echoBench(o, kennel) {
  const samples = { idle: [], churn: [] };
  for (const mode of ["idle", "churn"]) {
    const child = kennel.spawn(o.fixture, ["echo-stdin"], { stdin: "pipe" });
    const out = { text: "" };
    child.stdout.on("data", (b) => (out.text += b.toString()));
    await child.spawned;
    let stop = false;
    let churned = 0;
    const churn = async () => {
      while (!stop) {
        const c = kennel.spawn(o.fixture, ["exit", "0"]);
        c.stdout.resume();
        c.stderr.resume();
        await c.outcome;
        churned++;
      }
    };
    const workers = mode === "churn" ? Array.from({ length: o.concurrency }, churn) : [];
    // Measure once the churn is under way (every worker has finished a spawn or two).
    while (mode === "churn" && churned < 2 * o.concurrency) await new Promise((res) => setTimeout(res, 1));
    for (let i = 0; i < o.runs; i++) samples[mode].push(await echoOnce(child, out, i));
    stop = true;
    await Promise.all(workers);
    await child.end();
    await child.outcome;
  }
  row("echo.node.idle", "ms", "kennel client: one line through a long-lived child (write, then read it back)", samples.idle);
  row("echo.node.churn", "ms", `the same while the Kennel churns \`exit 0\` children, ${o.concurrency} in flight`, samples.churn);
}

// --- cancel ---------------------------------------------------------------------------

const TREE = 50;
const GRACE_MS = 200;

function pidsOf(text) {
  return text
    .split("\n")
    .filter((l) => l.startsWith("pid "))
    .map((l) => Number(l.split(" ")[1]));
}

// The usual Node approach: a detached child (own process group), kill(-pid), then
// SIGKILL after the grace; 'close' fires once every holder of the pipes is gone.
function nodeCancel(fixture, ignore) {
  return new Promise((resolve, reject) => {
    const args = ["tree", "--depth", "2", "--width", "49", ...(ignore ? ["--ignore-term"] : [])];
    const c = nodeSpawn(fixture, args, { stdio: ["ignore", "pipe", "pipe"], detached: true });
    let text = "";
    let t = 0;
    c.stderr.resume();
    c.stdout.on("data", (b) => {
      text += b.toString();
      if (t === 0 && pidsOf(text).length === TREE && text.endsWith("\n")) {
        t = now();
        process.kill(-c.pid, "SIGTERM");
        if (ignore) setTimeout(() => process.kill(-c.pid, "SIGKILL"), GRACE_MS);
      }
    });
    c.on("error", reject);
    c.on("close", () => {
      const d = now() - t;
      resolve(ignore ? d - GRACE_MS : d);
    });
  });
}

async function kennelCancel(kennel, fixture, ignore) {
  const args = ["tree", "--depth", "2", "--width", "49", ...(ignore ? ["--ignore-term"] : [])];
  const c = kennel.spawn(fixture, args, { signal: "SIGTERM", graceMs: GRACE_MS });
  let text = "";
  c.stderr.resume();
  let t = 0;
  const ready = new Promise((resolve) => {
    c.stdout.on("data", (b) => {
      text += b.toString();
      if (pidsOf(text).length === TREE && text.endsWith("\n")) resolve();
    });
  });
  await ready;
  // Each member's start time, so that a pid the kernel handed to another process after
  // the tree died (a busy machine reuses them fast) is not taken for a leftover.
  const started = new Map(pidsOf(text).map((p) => [p, statOf(p)?.start]));
  t = now();
  c.cancel();
  const o = await c.outcome;
  const d = now() - t;
  if (o.reason !== "cancelled") throw new Error(`kennel cancel: ${JSON.stringify(o.raw)}`);
  const left = [...started].filter(([p, start]) => {
    const s = statOf(p);
    return s !== undefined && s.state !== "Z" && (start === undefined || s.start === start);
  });
  if (left.length) throw new Error(`kennel cancel left ${left.map(([p]) => p)}`);
  return ignore ? d - GRACE_MS : d;
}

// A process's state letter and start time (clock ticks since boot) from
// /proc/<pid>/stat, or undefined once it is gone.
function statOf(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
    return { state: f[0], start: f[19] };
  } catch {
    return undefined;
  }
}

async function cancelBench(o, kennel) {
  const variants = [
    ["node.coop", "Node: detached + process.kill(-pid, SIGTERM), until 'close' (cooperative tree)", () => nodeCancel(o.fixture, false)],
    ["kennel.coop", "kennel client → sidecar: cancel() until outcome (cooperative tree)", () => kennelCancel(kennel, o.fixture, false)],
    ["node.ignore", "Node: SIGTERM, SIGKILL after 200 ms, until 'close' (SIGTERM-ignoring tree), beyond the grace", () => nodeCancel(o.fixture, true)],
    ["kennel.ignore", "kennel client → sidecar: cancel() (SIGTERM-ignoring tree), beyond the 200 ms grace", () => kennelCancel(kennel, o.fixture, true)],
  ];
  const samples = variants.map(() => []);
  for (let r = 0; r < o.runs; r++) {
    for (let i = 0; i < variants.length; i++) samples[i].push(await variants[i][2]());
  }
  variants.forEach(([key, label], i) => row(`cancel.node.${key}`, "ms", label, samples[i]));
}

// --- main -----------------------------------------------------------------------------

const o = parseArgs(process.argv.slice(2));
const kennel = await Kennel.start({ bin: o.kennel, stderr: "inherit", windowBytes: o.window });
try {
  if (o.mode === "spawn") await spawnBench(o, kennel);
  else if (o.mode === "throughput") await throughputBench(o, kennel);
  else if (o.mode === "cancel") await cancelBench(o, kennel);
  else if (o.mode === "hol") await holBench(o, kennel);
  else if (o.mode === "echo") await echoBench(o, kennel);
  else if (o.mode === "cpu") await cpuBench(o, kennel);
  else throw new Error(`unknown mode ${o.mode}`);
} finally {
  await kennel.close();
}
