/** Starting the `kennel serve` process, and what its death means. */
import { spawn as cpSpawn, type ChildProcess } from "node:child_process";
import { KennelError } from "./errors.js";
import type { KennelStartOptions } from "./types.js";
import { MAX_WINDOW_BYTES, MIN_WINDOW_BYTES, PROTOCOL_VERSION, type Json } from "./wire.js";

/** How long to wait for `hello` by default (ms). */
const DEFAULT_HELLO_TIMEOUT_MS = 15000;
/** How much of the sidecar's stderr is kept for error messages (characters). */
const STDERR_TAIL_CHARS = 4096;

/** What the sidecar process reports. */
export interface SidecarEvents {
  /** A read of its stdout. */
  data(chunk: Buffer): void;
  /** It could not be started, or sent no `hello` in time. */
  failed(err: KennelError): void;
  /** It exited; `stderrTail` is the end of its stderr (when piped). */
  closed(code: number | null, signal: NodeJS.Signals | null, stderrTail: string): void;
}

/** The window asked by the start options, checked against the protocol's bounds. */
export function windowOption(opts: KennelStartOptions): number | undefined {
  const window = opts.windowBytes ?? opts.maxBufferedBytes;
  if (window !== undefined && !(Number.isInteger(window) && window >= MIN_WINDOW_BYTES && window <= MAX_WINDOW_BYTES)) {
    throw new RangeError(`windowBytes must be an integer from ${MIN_WINDOW_BYTES} to ${MAX_WINDOW_BYTES}, not ${window}`);
  }
  return window;
}

/** The environment of the sidecar: the option's (or this process's) string variables. */
export function sidecarEnv(opts: KennelStartOptions): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(opts.env ?? process.env)) if (typeof v === "string") env[k] = v;
  return env;
}

/** Starts the sidecar; `ready` settles once `hello` arrived (or start failed), ending the hello timeout. */
export function startSidecar(bin: string, opts: KennelStartOptions, env: Record<string, string>, ready: Promise<unknown>, on: SidecarEvents): ChildProcess {
  const proc = cpSpawn(bin, opts.args ?? ["serve"], {
    stdio: ["pipe", "pipe", opts.stderr === "inherit" ? "inherit" : "pipe"],
    env,
    cwd: opts.cwd,
    windowsHide: true,
  });
  let stderrTail = "";
  proc.on("error", (e: NodeJS.ErrnoException) => {
    const why =
      e.code === "ENOENT"
        ? `kennel binary not found at ${JSON.stringify(bin)} (from the \`bin\` option or KENNEL_BIN)`
        : `cannot start kennel binary ${JSON.stringify(bin)}: ${e.message}`;
    on.failed(new KennelError("start_failed", why, { cause: e }));
  });
  proc.stdin!.on("error", () => {
    /* EPIPE when the sidecar died: reported by the exit path */
  });
  proc.stdout!.on("data", (c: Buffer) => on.data(c));
  proc.stderr?.on("data", (c: Buffer) => {
    stderrTail = (stderrTail + c.toString("utf8")).slice(-STDERR_TAIL_CHARS);
  });
  proc.on("close", (code, signal) => on.closed(code, signal, stderrTail));
  const helloTimeoutMs = opts.helloTimeoutMs ?? DEFAULT_HELLO_TIMEOUT_MS;
  let waiting = true;
  const timeout = setTimeout(() => {
    if (!waiting) return;
    on.failed(new KennelError("start_failed", `kennel sidecar sent no hello within ${helloTimeoutMs} ms`));
    proc.kill("SIGKILL");
  }, helloTimeoutMs);
  timeout.unref();
  const stop = () => {
    waiting = false;
    clearTimeout(timeout);
  };
  ready.then(stop, stop);
  return proc;
}

/** The error that ends a Kennel whose sidecar exited (`closed` if it said `bye` and no child was left). */
export function exitError(code: number | null, signal: NodeJS.Signals | null, bye: boolean, childrenLeft: boolean, stderrTail: string): KennelError {
  if (bye && !childrenLeft) return new KennelError("closed", "the kennel sidecar was closed");
  const how = signal !== null ? `killed by ${signal}` : `exit code ${code}`;
  const tail = stderrTail.trim();
  return new KennelError(
    "sidecar_exited",
    `kennel sidecar exited unexpectedly (${how})${bye ? " after bye" : " without bye"}` + (tail ? `; its stderr: ${tail}` : ""),
  );
}

/** The error of a `hello` in another protocol version. */
export function protocolMismatch(hello: Json): KennelError {
  return new KennelError(
    "protocol_mismatch",
    `kennel sidecar speaks protocol ${JSON.stringify(hello["protocol"])} (kennel ${String(hello["kennel"])}), this client speaks ${PROTOCOL_VERSION}`,
  );
}

interface Unreffable {
  ref?: () => unknown;
  unref?: () => unknown;
}

/** Whether the sidecar process and its pipes keep the event loop alive. */
export function refSidecar(proc: ChildProcess, want: boolean): void {
  const handles: (Unreffable | null | undefined)[] = [proc, proc.stdin as Unreffable, proc.stdout as Unreffable, proc.stderr as Unreffable];
  for (const h of handles) {
    if (!h) continue;
    if (want) h.ref?.();
    else h.unref?.();
  }
}
