/**
 * The public types of the client: spawn and start options, the outcome of a child, the
 * `hello` of a sidecar.
 */
import type { Signal } from "./protocol.js";

export type { Signal } from "./protocol.js";

/** One rung of the termination ladder: send `signal` to the tree, wait `waitMs`. */
export interface LadderRung {
  signal: Signal;
  waitMs: number;
}

/** Output cap of one stream. */
export interface OutputCap {
  bytes: number;
  /** `truncate` (default): keep draining, drop the rest; `kill`: terminate the tree. */
  policy?: "truncate" | "kill";
}

/** Per-tier containment switches: absent = use if available, false = avoid, true = require. */
export interface ContainmentSwitches {
  cgroup?: boolean;
  subreaper?: boolean;
  group?: boolean;
  job_object?: boolean;
  /** Opt-in (Linux): a PID namespace per tree whose init is the sidecar's keeper; nothing
   * leaves it and all of it dies with the sidecar. `true` requires it. */
  pid_namespace?: boolean;
}

/** Options of {@link Kennel.spawn}. Every field maps to a field of the `spawn` request. */
export interface SpawnOptions {
  /** Working directory (default: the sidecar's). */
  cwd?: string;
  /**
   * Variables set over the inherited environment (the sidecar's, i.e. the environment
   * this process had when the Kennel started). A value of `undefined` removes the
   * variable (like `envRemove`).
   */
  env?: Record<string, string | undefined>;
  /** Variables removed from the inherited environment (before `env` is applied). */
  envRemove?: string[];
  /** Start from an empty environment (then only `env` is set). */
  envClear?: boolean;
  /** `true`: run `cmd` as a command line with `/bin/sh -c`; a string: that shell. */
  shell?: boolean | string;
  /** `"pipe"` enables `write`/`end`/`stdin`; default `"null"`. */
  stdin?: "pipe" | "null";
  /**
   * Default `"pipe"`. With `"null"` the stream ends empty at once. With `"direct"` the
   * child writes into a connection to this client's own UNIX socket, which it reads
   * itself (Linux/macOS, sidecars listing `direct_sockets`; elsewhere `"pipe"`): no
   * sidecar in the data path, no caps, no `keepLeftovers`. Unread, it blocks the child
   * once the socket and 4 MiB read ahead are full, as a window does for a piped stream;
   * `outcome` comes after its end, and the drain waits for it as for a pipe — except
   * for a consumer that leaves more than that unread past the leader's exit: then the
   * drain timeout ends the descendants still writing (docs/PROTOCOL.md, "Direct streams").
   */
  stdout?: "pipe" | "null" | "direct";
  /** As {@link stdout}. */
  stderr?: "pipe" | "null" | "direct";
  /** Run the ladder after this many ms (`reason: "timed_out"`). */
  timeoutMs?: number;
  /** Explicit ladder (at most 16 rungs; the forceful kill after the last is implicit). */
  ladder?: LadderRung[];
  /** Shortcut for a one-rung ladder: its signal (default SIGTERM). Not with `ladder`. */
  signal?: Signal;
  /** Shortcut for a one-rung ladder: its wait in ms (default: the sidecar's grace, see docs/PROTOCOL.md). Not with `ladder`. */
  graceMs?: number;
  /** Output caps per stream. */
  caps?: { stdout?: OutputCap; stderr?: OutputCap };
  /** How long to wait for the pipes to reach EOF after the tree is gone. */
  drainTimeoutMs?: number;
  /** Leave descendants alive after the leader exits. */
  keepLeftovers?: boolean;
  /** Containment tier switches. */
  containment?: ContainmentSwitches;
  /**
   * Resource limits of the whole tree. A limit the sidecar's host cannot enforce
   * fails the spawn (error code `unsupported`) unless `bestEffort`.
   */
  limits?: Limits;
  /** Aborting it runs {@link KennelChild.cancel} (the ladder on the whole tree). */
  abortSignal?: AbortSignal;
}

/** Resource limits of a whole tree ({@link SpawnOptions.limits}). */
export interface Limits {
  /** Most memory (RAM, no swap on top) the tree may use, in bytes; a tree that runs out is killed whole (`reason: "memory_limit"`). */
  memoryMaxBytes?: number;
  /** Most processes alive in the tree at once (Linux: tasks, threads included); creations beyond it fail inside the tree. */
  pidsMax?: number;
  /** CPU time as a number of CPUs (0.5 = half of one). */
  cpus?: number;
  /** Run without the limits the host cannot enforce instead of failing the spawn. */
  bestEffort?: boolean;
  /** Measure `memoryPeakBytes` and `processes` even without their limits. */
  fullAccounting?: boolean;
}

/** What the whole tree used ({@link Outcome.usage}); a field is absent where the host cannot measure it. */
export interface Usage {
  cpuUserMs?: number;
  cpuSystemMs?: number;
  memoryPeakBytes?: number;
  /** How many processes the tree started: exact when `processesExact` (Windows), else a lower bound (Linux: the peak of live tasks). */
  processes?: number;
  processesExact: boolean;
  /** Process creations refused because the tree was at `pidsMax`. */
  forksRefused?: number;
  /** Processes the kernel's OOM killer killed (0 when the sidecar killed the whole tree first). */
  oomKills?: number;
}

/** Byte counts of one output stream in an {@link Outcome}. */
export interface StreamStats {
  /** Bytes delivered. */
  bytes: number;
  /** Bytes dropped beyond the cap. */
  dropped: number;
  /** Whether the cap was reached. */
  capHit: boolean;
}

/** Why a child ended (`exit.reason`); other strings may appear in future versions. */
export type ExitReason =
  | "exited"
  | "timed_out"
  | "cancelled"
  | "killed"
  | "output_cap"
  | "supervisor_shutdown"
  | "memory_limit"
  | (string & {});

/** The `exit` event of a child, every field, in camelCase. */
export interface Outcome {
  /** The leader's pid. */
  pid: number;
  /** Exit code if the leader exited normally, else null. */
  code: number | null;
  /** The signal number that killed the leader, else null. */
  signal: number | null;
  /** Its name, e.g. `"SIGKILL"`. */
  signalName: string | null;
  reason: ExitReason;
  /** Index of the rung in effect when the tree ended (ladder length = forceful); null if never signalled. */
  ladderStep: number | null;
  /** The forceful last rung was needed. */
  forced: boolean;
  wallTimeMs: number;
  stdout: StreamStats;
  stderr: StreamStats;
  /** `complete`: both pipes reached EOF; `timeout`: a leaked process held a pipe. */
  drain: "complete" | "timeout" | (string & {});
  /** Descendants found alive after the leader exited, and killed. */
  leftoversKilled: number[];
  /** Containment tier in effect. */
  containment: string;
  /** Non-fatal problems, as sentences. */
  errors: string[];
  /** What the whole tree used, where measured. */
  usage: Usage;
  /** Limits a `bestEffort` spawn ran without (`memory`, `pids`, `cpu`). */
  limitsSkipped: string[];
  /** The `exit` event as received (including fields this client does not know). */
  raw: Record<string, unknown>;
}

/**
 * Shell-style exit status of an outcome: the exit code, or 128 + N for a death by signal
 * N (like a POSIX shell's `$?`), or 1 if neither is known.
 */
export function exitStatus(outcome: Outcome): number {
  if (outcome.code !== null) return outcome.code;
  if (outcome.signal !== null) return 128 + outcome.signal;
  return 1;
}

/** The `hello` event. */
export interface Hello {
  protocol: number;
  kennel: string;
  platform: string;
  containment: string[];
  maxLineBytes: number;
  maxChildren: number;
  /** Output framings the sidecar offers (`["json"]` from sidecars older than binary frames). */
  framings: string[];
  /** Largest payload of one binary data frame. */
  maxFrameBytes: number;
  /** Optional protocol features (`flow_control`, `req`, `cancel_ladder`; empty from older sidecars). */
  features: string[];
  /** The sidecar's recommended flow-control window per stream, if it offers flow control. */
  windowBytes: number | undefined;
  raw: Record<string, unknown>;
}

/** One entry of {@link Kennel.list}. */
export interface ListedChild {
  id: string;
  pid: number;
  state: "running" | "exiting" | (string & {});
}

/** Options of {@link Kennel.start}. */
export interface KennelStartOptions {
  /** Path of the `kennel` binary. Default: see {@link locateKennelBin} (KENNEL_BIN, platform package, PATH). */
  bin?: string;
  /** Arguments after the binary (default `["serve"]`). */
  args?: string[];
  /** Environment of the sidecar (and so the environment children inherit). Default `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** Working directory of the sidecar. */
  cwd?: string;
  /** The sidecar's stderr (diagnostics): `"pipe"` (default, kept for error messages) or `"inherit"`. */
  stderr?: "pipe" | "inherit";
  /** How long to wait for `hello` (default 15000 ms). */
  helloTimeoutMs?: number;
  /**
   * Flow-control window per child output stream, in bytes (default: the sidecar's
   * `hello.window_bytes`, 4 MiB). The sidecar sends at most this many bytes of a stream
   * beyond what its consumer has read; then that child alone waits (it blocks in its own
   * write) while every other child keeps flowing. So a child's unread output costs this
   * client at most `windowBytes` per stream. See README, "Backpressure".
   */
  windowBytes?: number;
  /** @deprecated Use `windowBytes` (taken as `windowBytes` when that is absent). */
  maxBufferedBytes?: number;
  /**
   * How children's output travels from the sidecar: `"auto"` (default) uses binary data
   * frames when the sidecar offers them (`hello.framings`), else JSON events; `"json"`
   * always uses JSON events. The streams carry the same bytes either way.
   */
  framing?: "auto" | "json";
}

/** Options of {@link Kennel.run}. */
export interface RunOptions extends SpawnOptions {
  /** Written to stdin, which is then closed (implies `stdin: "pipe"`). */
  input?: string | Uint8Array;
}

/** Result of {@link Kennel.run}. */
export interface RunResult {
  stdout: Buffer;
  stderr: Buffer;
  outcome: Outcome;
}

/** Options of {@link KennelChild.cancel}. */
export interface CancelOptions {
  /**
   * A ladder for this cancel instead of the spawn's (the forceful kill after the last
   * rung is implicit). Needs a sidecar offering `cancel_ladder`; older ones run the
   * spawn's ladder.
   */
  ladder?: LadderRung[];
}
