/** The option and result types of `kennel/process` (the original helper's, plus kennel's extensions). */
import type { Kennel, Limits, Outcome } from "./index.js";

/** What to do with one stdio stream of the child. */
export type Stdio = "inherit" | "pipe" | "ignore";
/** @deprecated alias of {@link Stdio} (kennel 0.1 name). */
export type StdioMode = Stdio;
/** `true`: `/bin/sh` (`cmd.exe` on Windows); a string: that shell. */
export type Shell = boolean | string;

/** How a death by signal N shows in `exited` / `code`. */
export type SignalExit = "shell" | "legacy";

/** Options of {@link spawn}; the first nine are the original helper's. */
export interface Options {
  /** Working directory (default: this process's `process.cwd()` at spawn time). */
  cwd?: string;
  /** Merged over `process.env` (a value `undefined` removes the variable); `null` = empty environment; absent = `process.env`. */
  env?: NodeJS.ProcessEnv | null;
  /** Default `"ignore"`. `"inherit"` pipes `process.stdin` into the child. */
  stdin?: Stdio;
  /** Default `"ignore"` (`"pipe"` for run/text/lines). `"inherit"` forwards to `process.stdout`. */
  stdout?: Stdio;
  /** Default `"ignore"` (`"pipe"` for run/text/lines). `"inherit"` forwards to `process.stderr`. */
  stderr?: Stdio;
  /** `true` or a shell path: `cmd.join(" ")` is run by that shell with `-c`. */
  shell?: Shell;
  /**
   * Aborting it terminates the whole tree: signal `kill`, wait `timeout` ms, SIGKILL.
   * Already aborted: `spawn` throws its reason (an `AbortError`), `run` rejects with it.
   */
  abort?: AbortSignal;
  /** The first signal sent on abort (default `"SIGTERM"`). */
  kill?: NodeJS.Signals | number;
  /** Grace (ms) between `kill` and SIGKILL on abort (default: the sidecar's grace, 5 s); `<= 0`: send `kill` only, never escalate. */
  timeout?: number;

  // ----- kennel extensions (see README, "Differences") -----

  /** The Kennel to use (default: {@link configure}'s, else the shared {@link getDefaultKennel}). */
  kennel?: Kennel;
  /** `"shell"` (default): a death by signal N is status 128 + N; `"legacy"`: 1, as the original helper. */
  signalExit?: SignalExit;
  /** Leave descendants alive after the leader exits (the original never killed them). Default false. */
  keepLeftovers?: boolean;
  /** How long to wait for the pipes after the tree is gone (ms; default: the sidecar's). */
  drainTimeoutMs?: number;
  /** `kill(sig)` signals the whole tree (default true); false: only the leader, as `ChildProcess.kill`. */
  killTree?: boolean;
  /** Resource limits of the whole tree (memory, processes, CPU); see {@link Limits}. */
  limits?: Limits;
}

/** Options of {@link run}, {@link text}, {@link lines}. */
export interface RunOptions extends Options {
  /** Resolve instead of rejecting on a non-zero status or a spawn failure (then code 1, the error's message as stderr). */
  nothrow?: boolean;
  /** Written to the child's stdin, which is then closed (kennel extension; overrides `stdin`). */
  input?: string | Uint8Array;
}

/** Result of {@link run}. */
export interface Result {
  code: number;
  stdout: Buffer;
  stderr: Buffer;
  /** kennel's full report (signal, reason, leftovers, …); absent when `nothrow` swallowed a spawn failure. */
  outcome?: Outcome;
}

/** Result of {@link text}. */
export interface TextResult extends Result {
  text: string;
}

/** Input of {@link terminateTree}. */
export interface TerminateTreeInput {
  pid: number;
  /** Wait between SIGTERM and SIGKILL (default {@link TERMINATION_GRACE_MS}). */
  graceMs?: number;
  /** How to signal the root (default `process.kill(pid, signal)`). */
  signalRoot?: (signal: NodeJS.Signals) => void;
  /** Settles when the root exited: ends the grace early. */
  waitForExit?: Promise<unknown>;
  /** How to list the descendants (default {@link descendants}). */
  findDescendants?: (pid: number) => Promise<number[]>;
}

/** Module-wide defaults of the kennel extensions (so a flag can flip them without touching call sites). */
export interface Defaults {
  kennel?: Kennel;
  signalExit?: SignalExit;
  keepLeftovers?: boolean;
  drainTimeoutMs?: number;
  killTree?: boolean;
}
