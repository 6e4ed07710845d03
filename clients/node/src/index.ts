/**
 * kennel — Node/TypeScript client of the `kennel serve` sidecar (protocol v1, see
 * docs/PROTOCOL.md). One {@link Kennel} owns one sidecar process and multiplexes any
 * number of children over its stdin/stdout.
 *
 * No runtime dependencies; Node >= 20.
 *
 * Modules: `kennel.ts` (the sidecar and its children), `child.ts` (one child), `frames.ts`
 * (the sidecar's output: event lines and binary data frames), `flow.ts` (per-stream
 * credit), `answers.ts` (requests waiting for their answer), `sidecar.ts` (the process),
 * `types.ts` (public types), `wire.ts` (encoding and decoding of the protocol).
 */
import { Kennel } from "./kennel.js";
import type { KennelStartOptions } from "./types.js";

export { KennelChild } from "./child.js";
export { KennelError } from "./errors.js";
export { Kennel } from "./kennel.js";
export { locateKennelBin } from "./locate.js";
export { exitStatus } from "./types.js";
export type {
  CancelOptions,
  ContainmentSwitches,
  ExitReason,
  Hello,
  KennelStartOptions,
  LadderRung,
  Limits,
  ListedChild,
  Outcome,
  OutputCap,
  RunOptions,
  RunResult,
  Signal,
  SpawnOptions,
  StreamStats,
  Usage,
} from "./types.js";
export { PROTOCOL_VERSION } from "./wire.js";

// ---------------------------------------------------------------------------------------
// Default shared instance
// ---------------------------------------------------------------------------------------

let defaultKennel: Kennel | undefined;

/**
 * A shared Kennel, started lazily on first call (binary from env `KENNEL_BIN`), usable
 * at once (requests are queued until `hello`). It never keeps the process alive while
 * idle and its sidecar gets EOF on process exit. If it died, the next call starts a new
 * one (children of the dead one stay rejected).
 */
export function getDefaultKennel(opts: KennelStartOptions = {}): Kennel {
  if (defaultKennel && !defaultKennel.failure) return defaultKennel;
  const k = Kennel.create(opts);
  defaultKennel = k;
  const onExit = () => {
    // The process is exiting: EOF makes the sidecar run every child's ladder and exit.
    void k.close().catch(() => {});
  };
  process.once("exit", onExit);
  k.once("exit", () => process.removeListener("exit", onExit));
  return k;
}
