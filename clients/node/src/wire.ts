/**
 * Internals of the client shared by its modules: protocol constants, a settle-once
 * deferred, and the decoding of events into the public types.
 */
import { KennelError } from "./errors.js";
import type { Hello, LadderRung, Limits, ListedChild, Outcome, SpawnOptions, StreamStats, Usage } from "./types.js";
import type { LadderStep, Request, SpawnRequest } from "./protocol.js";

/** The protocol version this client speaks. */
export const PROTOCOL_VERSION = 1;

/** Largest raw stdin payload sent in one `write` request (base64 of it is 683 KiB). */
export const WRITE_CHUNK_BYTES = 512 * 1024;
/** Window per output stream when the sidecar does not recommend one (`hello.window_bytes`). */
export const DEFAULT_WINDOW_BYTES = 4 * 1024 * 1024;
/** The protocol's bounds of `spawn.window`. */
export const MIN_WINDOW_BYTES = 1024;
export const MAX_WINDOW_BYTES = 2 ** 31 - 1;
/** `max_line_bytes` until `hello` says otherwise. */
export const DEFAULT_MAX_LINE_BYTES = 1048576;

export type Json = Record<string, unknown>;

/** A promise with its settle functions; settles once (later calls are ignored). */
export interface Deferred<T> {
  promise: Promise<T>;
  resolve: (v: T) => void;
  reject: (e: unknown) => void;
  settled: boolean;
}

export function deferred<T>(handled = true): Deferred<T> {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // The caller may never await it: never let it become an unhandled rejection.
  if (handled) promise.catch(() => {});
  const d: Deferred<T> = {
    promise,
    settled: false,
    resolve: (v) => {
      if (d.settled) return;
      d.settled = true;
      resolve(v);
    },
    reject: (e) => {
      if (d.settled) return;
      d.settled = true;
      reject(e);
    },
  };
  return d;
}

export function toBuffer(data: string | Uint8Array): Buffer {
  if (typeof data === "string") return Buffer.from(data, "utf8");
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

/** The payload of a JSON `stdout`/`stderr` event. */
export function payload(ev: Json): Buffer {
  if (typeof ev["data"] === "string") return Buffer.from(ev["data"], "utf8");
  if (typeof ev["data_b64"] === "string") return Buffer.from(ev["data_b64"], "base64");
  return Buffer.alloc(0);
}

export function num(v: unknown, dflt = 0): number {
  return typeof v === "number" ? v : dflt;
}

function streamStats(v: unknown): StreamStats {
  const o = (v ?? {}) as Json;
  return { bytes: num(o["bytes"]), dropped: num(o["dropped"]), capHit: o["cap_hit"] === true };
}

/** The `exit` event as an {@link Outcome}. */
export function toOutcome(ev: Json): Outcome {
  return {
    pid: num(ev["pid"]),
    code: typeof ev["code"] === "number" ? ev["code"] : null,
    signal: typeof ev["signal"] === "number" ? ev["signal"] : null,
    signalName: typeof ev["signal_name"] === "string" ? ev["signal_name"] : null,
    reason: String(ev["reason"] ?? "exited"),
    ladderStep: typeof ev["ladder_step"] === "number" ? ev["ladder_step"] : null,
    forced: ev["forced"] === true,
    wallTimeMs: num(ev["wall_time_ms"]),
    stdout: streamStats(ev["stdout"]),
    stderr: streamStats(ev["stderr"]),
    drain: String(ev["drain"] ?? "complete"),
    leftoversKilled: Array.isArray(ev["leftovers_killed"]) ? (ev["leftovers_killed"] as number[]) : [],
    containment: String(ev["containment"] ?? ""),
    errors: Array.isArray(ev["errors"]) ? (ev["errors"] as string[]) : [],
    usage: toUsage(ev["usage"]),
    limitsSkipped: Array.isArray(ev["limits_skipped"]) ? (ev["limits_skipped"] as string[]) : [],
    raw: ev,
  };
}

/** The `usage` of an `exit` event, measured fields only. */
function toUsage(v: unknown): Usage {
  const u = (v ?? {}) as Json;
  const out: Usage = { processesExact: u["processes_exact"] === true };
  const fields: Array<[keyof Usage, string]> = [
    ["cpuUserMs", "cpu_user_ms"],
    ["cpuSystemMs", "cpu_system_ms"],
    ["memoryPeakBytes", "memory_peak_bytes"],
    ["processes", "processes"],
    ["forksRefused", "forks_refused"],
    ["oomKills", "oom_kills"],
  ];
  for (const [key, wire] of fields) {
    if (typeof u[wire] === "number") (out as unknown as Record<string, number>)[key] = u[wire] as number;
  }
  return out;
}

/** The `hello` event as a {@link Hello} (its `protocol` was checked). */
export function toHello(ev: Json): Hello {
  return {
    protocol: PROTOCOL_VERSION,
    kennel: String(ev["kennel"] ?? ""),
    platform: String(ev["platform"] ?? ""),
    containment: Array.isArray(ev["containment"]) ? (ev["containment"] as string[]) : [],
    maxLineBytes: num(ev["max_line_bytes"], DEFAULT_MAX_LINE_BYTES),
    maxChildren: num(ev["max_children"], 0),
    framings: Array.isArray(ev["framings"]) ? (ev["framings"] as string[]) : ["json"],
    maxFrameBytes: num(ev["max_frame_bytes"], 0),
    features: Array.isArray(ev["features"]) ? (ev["features"] as unknown[]).map(String) : [],
    windowBytes: typeof ev["window_bytes"] === "number" ? ev["window_bytes"] : undefined,
    raw: ev,
  };
}

/** A ladder in the protocol's spelling. */
export function wireLadder(ladder: LadderRung[]): LadderStep[] {
  return ladder.map((r) => ({ signal: r.signal, wait_ms: r.waitMs }));
}

/** A field of an event if it is a string. */
export function str(ev: Json, key: string): string | undefined {
  const v = ev[key];
  return typeof v === "string" ? v : undefined;
}

/** The `spawn` request of child `id` (without what `hello` negotiates: framing, window). */
export function spawnRequest(id: string, cmd: string, args: string[], opts: SpawnOptions): SpawnRequest {
  const req: SpawnRequest = { op: "spawn", id, cmd };
  if (args.length > 0) req["args"] = args;
  if (opts.cwd !== undefined) req["cwd"] = opts.cwd;
  if (opts.env !== undefined) {
    const env: Record<string, string> = {};
    const remove = [...(opts.envRemove ?? [])];
    for (const [k, v] of Object.entries(opts.env)) {
      if (v === undefined) remove.push(k);
      else env[k] = v;
    }
    if (Object.keys(env).length > 0) req["env"] = env;
    if (remove.length > 0) req["env_remove"] = remove;
  } else if (opts.envRemove !== undefined && opts.envRemove.length > 0) {
    req["env_remove"] = opts.envRemove;
  }
  if (opts.envClear) req["env_clear"] = true;
  if (opts.shell !== undefined && opts.shell !== false) req["shell"] = opts.shell;
  if (opts.stdin !== undefined) req["stdin"] = opts.stdin;
  if (opts.stdout !== undefined) req["stdout"] = opts.stdout;
  if (opts.stderr !== undefined) req["stderr"] = opts.stderr;
  if (opts.timeoutMs !== undefined) req["timeout_ms"] = opts.timeoutMs;
  if (opts.ladder !== undefined) req["ladder"] = wireLadder(opts.ladder);
  if (opts.signal !== undefined) req["signal"] = opts.signal;
  if (opts.graceMs !== undefined) req["grace_ms"] = opts.graceMs;
  if (opts.caps?.stdout) req["stdout_cap"] = { bytes: opts.caps.stdout.bytes, policy: opts.caps.stdout.policy ?? "truncate" };
  if (opts.caps?.stderr) req["stderr_cap"] = { bytes: opts.caps.stderr.bytes, policy: opts.caps.stderr.policy ?? "truncate" };
  if (opts.drainTimeoutMs !== undefined) req["drain_timeout_ms"] = opts.drainTimeoutMs;
  if (opts.keepLeftovers) req["keep_leftovers"] = true;
  if (opts.containment !== undefined) req["containment"] = opts.containment;
  if (opts.limits !== undefined) req["limits"] = wireLimits(opts.limits);
  return req;
}

/** {@link Limits} as the `spawn` request names them. */
function wireLimits(l: Limits): NonNullable<SpawnRequest["limits"]> {
  const out: NonNullable<SpawnRequest["limits"]> = {};
  if (l.memoryMaxBytes !== undefined) out.memory_max_bytes = l.memoryMaxBytes;
  if (l.pidsMax !== undefined) out.pids_max = l.pidsMax;
  if (l.cpus !== undefined) out.cpus = l.cpus;
  if (l.bestEffort) out.best_effort = true;
  if (l.fullAccounting) out.full_accounting = true;
  return out;
}

/** The children of a `list` reply. */
export function toListed(ev: Json): ListedChild[] {
  const children = Array.isArray(ev["children"]) ? (ev["children"] as Json[]) : [];
  return children.map((c) => ({ id: String(c["id"]), pid: num(c["pid"]), state: String(c["state"]) }));
}

/** The error of a request whose line (`bytes` long) exceeds the sidecar's `max_line_bytes`. */
export function lineTooLong(req: Request, bytes: number, max: number): KennelError {
  return new KennelError("line_too_long", `${String(req["op"])} request of ${bytes} bytes exceeds the sidecar's max_line_bytes (${max})`, {
    id: typeof req["id"] === "string" ? req["id"] : undefined,
    op: String(req["op"]),
  });
}

/** An event line as an object, or the `invalid_event` error saying why it is not one. */
export function parseEvent(line: Buffer): Json | KennelError {
  try {
    const v: unknown = JSON.parse(line.toString("utf8"));
    if (typeof v !== "object" || v === null || Array.isArray(v)) throw new Error("not an object");
    return v as Json;
  } catch (e) {
    return new KennelError("invalid_event", `kennel sidecar sent an unparsable line: ${line.toString("utf8").slice(0, 200)}`, { cause: e });
  }
}

/** Adds what `hello` allows to a `spawn` request: binary framing, a flow-control window. */
export function negotiate(req: SpawnRequest, hello: Hello, framing: "auto" | "json", window: number | undefined): void {
  let direct = req.stdout === "direct" || req.stderr === "direct";
  if (direct && !hello.features.includes("direct_sockets")) {
    // Windows, or an older sidecar: the stream is piped as usual.
    if (req.stdout === "direct") req.stdout = "pipe";
    if (req.stderr === "direct") req.stderr = "pipe";
    direct = false;
  }
  // Framing is refused with a direct stream (a piped other stream comes as JSON events).
  if (framing === "auto" && hello.framings.includes("binary") && !direct) req["framing"] = "binary";
  if (hello.features.includes("flow_control")) req["window"] = window ?? hello.windowBytes ?? DEFAULT_WINDOW_BYTES;
}
