/** Process trees by pid, for any process: `exists`, `descendants`, `terminateTree`. */
import { execFile } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { live, stopKennel } from "./process-child.js";
import type { TerminateTreeInput } from "./process-types.js";

/** Grace between SIGTERM and SIGKILL of {@link stop} and {@link terminateTree} (ms). */
export const TERMINATION_GRACE_MS = 500;

/** Whether a process with this pid exists (and may be signalled). */
export function exists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** pid → parent pid of every process (Linux: /proc; other Unix: `ps`). */
async function parentMap(): Promise<Map<number, number>> {
  const map = new Map<number, number>();
  if (process.platform === "linux") {
    for (const name of readdirSync("/proc")) {
      if (!/^\d+$/.test(name)) continue;
      try {
        const stat = readFileSync(`/proc/${name}/stat`, "utf8");
        // Fields after the command name (which may contain spaces and parentheses).
        const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
        map.set(Number(name), Number(rest[1]));
      } catch {
        // Exited while listing.
      }
    }
    return map;
  }
  const out = await new Promise<string>((res) => {
    execFile("ps", ["-A", "-o", "pid=", "-o", "ppid="], (err, stdout) => res(err ? "" : stdout));
  });
  for (const line of out.split("\n")) {
    const [pid, ppid] = line.trim().split(/\s+/).map(Number);
    if (Number.isInteger(pid) && Number.isInteger(ppid)) map.set(pid!, ppid!);
  }
  return map;
}

/** Every descendant of `pid` (children, grandchildren, …) found now; `[]` on Windows. Never rejects. */
export async function descendants(pid: number): Promise<number[]> {
  if (process.platform === "win32") return [];
  const children = new Map<number, number[]>();
  for (const [p, pp] of await parentMap().catch(() => new Map<number, number>())) {
    const list = children.get(pp) ?? [];
    list.push(p);
    children.set(pp, list);
  }
  const seen = new Set<number>();
  const pending = [pid];
  while (pending.length) {
    for (const c of children.get(pending.pop()!) ?? []) {
      if (c <= 0 || c === pid || seen.has(c)) continue;
      seen.add(c);
      pending.push(c);
    }
  }
  return [...seen];
}

function signalPid(pid: number, signal: NodeJS.Signals): boolean {
  try {
    if (exists(pid)) process.kill(pid, signal);
    return true;
  } catch {
    return false;
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    return false;
  }
}

/**
 * Terminate `pid` and its descendants: SIGTERM, wait up to `graceMs` (or until
 * `waitForExit` settles), then SIGKILL to what is left. For a child spawned by this
 * module the sidecar does it (reaching descendants that escaped the process group);
 * for any other pid: its process group if it leads one, else the root (`signalRoot`)
 * and the descendants found at the start. Windows: `taskkill /f /t`.
 */
export async function terminateTree(input: TerminateTreeInput): Promise<void> {
  const graceMs = input.graceMs ?? TERMINATION_GRACE_MS;
  const ours = live.get(input.pid);
  if (ours) return stopKennel(ours, graceMs);
  if (process.platform === "win32") {
    await new Promise<void>((res) => execFile("taskkill", ["/pid", String(input.pid), "/f", "/t"], () => res()));
    return;
  }
  const children = await (input.findDescendants ?? descendants)(input.pid).catch(() => [] as number[]);
  const signalRoot = (signal: NodeJS.Signals) => {
    if (input.signalRoot && exists(input.pid)) {
      try {
        input.signalRoot(signal);
        return;
      } catch {
        // Fall back to the pid.
      }
    }
    signalPid(input.pid, signal);
  };
  const groupSignaled = signalGroup(input.pid, "SIGTERM");
  if (!groupSignaled) {
    signalRoot("SIGTERM");
    for (const c of children) signalPid(c, "SIGTERM");
  }
  const grace = sleep(graceMs).then(() => false);
  const rootExited = await (input.waitForExit ? Promise.race([input.waitForExit.then(() => true, () => true), grace]) : grace);
  if (!exists(input.pid) && children.every((c) => !exists(c))) return;
  if (groupSignaled && !rootExited && exists(input.pid)) signalGroup(input.pid, "SIGKILL");
  else signalRoot("SIGKILL");
  for (const c of children) signalPid(c, "SIGKILL");
  if (input.waitForExit) await Promise.race([input.waitForExit.catch(() => undefined), sleep(graceMs)]);
}
