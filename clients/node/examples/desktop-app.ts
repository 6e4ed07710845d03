// A desktop coding app's tool runner on kennel/process, the way PawWork-like apps use their
// `Process` helper: many tools at once, a Cancel button per tool (an AbortController), and
// everything stopped when the window closes.
//
//   npm run build && node dist/examples/desktop-app.js [--tools N]
//
// Needs the kennel binary (KENNEL_BIN, the platform package, or PATH). Prints one JSON line
// per event and a final `{"summary": …}` line; exits 1 if anything it started is still
// alive after quitting.
import { readFileSync } from "node:fs";
import { Process } from "kennel/process";

type ToolEvent = Record<string, unknown>;
const log = (e: ToolEvent) => console.log(JSON.stringify(e));

/** One tool call the model made: a shell command, cancellable from the UI. */
class ToolCall {
  readonly ui = new AbortController();
  constructor(
    readonly id: string,
    readonly cmd: string[],
  ) {}
}

class App {
  /** Long-running tools (dev servers, watchers) the user can see in a panel. */
  readonly background = new Map<string, { tool: ToolCall; proc: Process.Child }>();
  readonly started: number[] = [];

  /** A short tool: run to completion, output to the model. */
  async runTool(tool: ToolCall): Promise<ToolEvent> {
    try {
      const r = await Process.text(tool.cmd, { abort: tool.ui.signal, shell: true, timeout: 1000 });
      return { tool: tool.id, ok: true, out: r.text.trim() };
    } catch (e) {
      if (e instanceof Process.RunFailedError) return { tool: tool.id, ok: false, code: e.code, reason: e.outcome?.reason };
      return { tool: tool.id, ok: false, error: (e as NodeJS.ErrnoException).code ?? String(e) };
    }
  }

  /** A background tool: spawned, its output streamed to the UI. */
  startBackground(tool: ToolCall): Process.Child {
    const proc = Process.spawn(tool.cmd, { abort: tool.ui.signal, shell: true, stdout: "pipe", timeout: 1000 });
    proc.on("spawn", () => this.started.push(proc.pid!));
    proc.stdout!.on("data", () => {});
    proc.on("exit", (code, signal) => log({ event: "background-exit", tool: tool.id, code, signal }));
    this.background.set(tool.id, { tool, proc });
    return proc;
  }

  /** The window closes: stop every background tool (whole trees), in parallel. */
  async quit(): Promise<number[]> {
    const all = [...this.background.values()];
    // Snapshot the trees first, to check afterwards that nothing survived.
    const trees = await Promise.all(all.map(async ({ proc }) => [await proc.spawned, ...(await Process.descendants(await proc.spawned))]));
    await Promise.all(all.map(({ proc }) => Process.stop(proc)));
    return trees.flat();
  }
}

/** Alive: exists and (on Linux) not a zombie — a killed process waiting to be reaped is dead. */
function alive(pid: number): boolean {
  if (!Process.exists(pid)) return false;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat[stat.lastIndexOf(")") + 2] !== "Z";
  } catch {
    return process.platform !== "linux";
  }
}

/** The pids still alive after `ms` (polled, returns as soon as none is). */
async function survivorsAfter(pids: number[], ms: number): Promise<number[]> {
  const deadline = Date.now() + ms;
  for (;;) {
    const left = pids.filter(alive);
    if (left.length === 0 || Date.now() > deadline) return left;
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function main(): Promise<number> {
  const n = Number(process.argv[process.argv.indexOf("--tools") + 1]) || 24;
  const app = new App();

  // Background tools: a "dev server" with workers (grandchildren), a watcher.
  const server = app.startBackground(new ToolCall("dev-server", ["sleep 300 & sleep 300 & echo ready; wait"]));
  const watcher = app.startBackground(new ToolCall("watcher", ["while :; do sleep 1; done"]));
  const cancelled = app.startBackground(new ToolCall("long-build", ["sleep 300 & echo building; wait"]));
  await Promise.all([server.spawned, watcher.spawned, cancelled.spawned]);

  // Many short tools at once, one of which the user cancels from the UI, one that fails
  // and one whose program does not exist.
  const tools = Array.from({ length: n }, (_, i) => new ToolCall(`t${i}`, [`echo tool-${i}`]));
  const slow = new ToolCall("slow-grep", ["sleep 300"]);
  const failing = new ToolCall("failing", ["echo nope >&2; exit 3"]);
  const runs = [...tools, slow, failing].map((t) => app.runTool(t));
  const missing = Process.run(["kennel-example-no-such-tool"]).then(
    () => ({ tool: "missing", ok: true }),
    (e: NodeJS.ErrnoException) => ({ tool: "missing", ok: false, error: e.code }),
  );

  // The user clicks Cancel on the slow tool and on the long build.
  slow.ui.abort();
  app.background.get("long-build")!.tool.ui.abort();
  const cancelledCode = await cancelled.exited;
  log({ event: "cancelled", tool: "long-build", status: cancelledCode, reason: (await cancelled.outcome).reason });

  const results = await Promise.all([...runs, missing]);
  for (const r of results) log(r);

  // The window closes.
  const pids = await app.quit();
  const survivors = await survivorsAfter(pids, 5000);
  const summary = {
    tools: results.length,
    ok: results.filter((r) => r.ok).length,
    cancelled: results.find((r) => r.tool === "slow-grep"),
    failed: results.find((r) => r.tool === "failing"),
    missing: results.find((r) => r.tool === "missing"),
    stoppedOnQuit: [server, watcher].map((p) => p.signalCode),
    checkedPids: pids,
    survivors,
  };
  log({ summary });
  return survivors.length === 0 ? 0 : 1;
}

main().then(
  (code) => (process.exitCode = code),
  (e) => {
    console.error(e);
    process.exitCode = 2;
  },
);
