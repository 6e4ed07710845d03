/**
 * `kennel/process/effect`: the Effect variants of the `Process` helper — `spawnEffect`,
 * `runEffect`, `textEffect`, `linesEffect`, `stopEffect`, `descendantsEffect`,
 * `terminateTreeEffect`, the `Interface` type, the `Service` and its `layer` /
 * `defaultLayer` — plus everything of `kennel/process`, under one `Process` namespace.
 *
 * A separate entry point so that apps without Effect never load it: `effect` (v4) is an
 * optional peer dependency, needed only by whoever imports this module.
 */
import { Context, Effect, Layer } from "effect";
import type { ChildProcess } from "node:child_process";
import { descendants, lines, run, spawn, stop, terminateTree, text } from "./process.js";
import type { Child, Options, Result, RunOptions, TerminateTreeInput, TextResult } from "./process.js";

export * from "./process.js";
export * as Process from "./process-effect.js";

/** The helper's service shape: every operation as an Effect. */
export interface Interface {
  readonly spawn: (cmd: string[], opts?: Options) => Effect.Effect<Child, unknown>;
  readonly run: (cmd: string[], opts?: RunOptions) => Effect.Effect<Result, unknown>;
  readonly text: (cmd: string[], opts?: RunOptions) => Effect.Effect<TextResult, unknown>;
  readonly lines: (cmd: string[], opts?: RunOptions) => Effect.Effect<string[], unknown>;
  readonly stop: (proc: Child | ChildProcess) => Effect.Effect<void, unknown>;
  readonly descendants: (pid: number) => Effect.Effect<number[]>;
  readonly terminateTree: (input: TerminateTreeInput) => Effect.Effect<void, unknown>;
}

/** The `Process` service (key `@kennel/Process`). */
export class Service extends Context.Service<Service, Interface>()("@kennel/Process") {}

/** A promise as an Effect that fails with exactly what the promise rejected with. */
const attempt = <A>(f: () => Promise<A>): Effect.Effect<A, unknown> => Effect.tryPromise({ try: f, catch: (e) => e });

/** {@link spawn} as an Effect (a synchronous throw — empty command, aborted signal — is a defect, as in the original). */
export const spawnEffect = Effect.fn("Process.spawn")(function* (cmd: string[], opts: Options = {}) {
  return yield* Effect.sync(() => spawn(cmd, opts));
});

/** {@link run} as an Effect: fails with the `RunFailedError`, the spawn error (`ENOENT`, …) or the abort reason. */
export const runEffect = Effect.fn("Process.run")(function* (cmd: string[], opts: RunOptions = {}) {
  return yield* attempt(() => run(cmd, opts));
});

/** {@link text} as an Effect. */
export const textEffect = Effect.fn("Process.text")(function* (cmd: string[], opts: RunOptions = {}) {
  return yield* attempt(() => text(cmd, opts));
});

/** {@link lines} as an Effect. */
export const linesEffect = Effect.fn("Process.lines")(function* (cmd: string[], opts: RunOptions = {}) {
  return yield* attempt(() => lines(cmd, opts));
});

/** {@link stop} as an Effect. */
export const stopEffect = Effect.fn("Process.stop")(function* (proc: Child | ChildProcess) {
  yield* attempt(() => stop(proc));
});

/** {@link descendants} as an Effect (never fails). */
export const descendantsEffect = Effect.fn("Process.descendants")(function* (pid: number) {
  return yield* Effect.promise(() => descendants(pid));
});

/** {@link terminateTree} as an Effect. */
export const terminateTreeEffect = Effect.fn("Process.terminateTree")(function* (input: TerminateTreeInput) {
  yield* attempt(() => terminateTree(input));
});

/** The service backed by the kennel sidecar. */
export const layer = Layer.succeed(
  Service,
  Service.of({
    spawn: spawnEffect,
    run: runEffect,
    text: textEffect,
    lines: linesEffect,
    stop: stopEffect,
    descendants: descendantsEffect,
    terminateTree: terminateTreeEffect,
  }),
);

/** Same as {@link layer}. */
export const defaultLayer = layer;
