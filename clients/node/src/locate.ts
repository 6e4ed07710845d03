/**
 * Finding the `kennel` binary without configuration (the esbuild/biome pattern).
 *
 * In order: the `bin` option, env `KENNEL_BIN`, the platform package installed as an
 * optional dependency (`@kennel/<platform>-<arch>`, carrying `bin/kennel[.exe]`), then
 * every directory of `PATH`. The first hit wins; when nothing is found the error lists
 * every place that was looked at, so a user sees at once which step to fix.
 */
import { accessSync, constants, statSync } from "node:fs";
import { createRequire } from "node:module";
import * as path from "node:path";
import { KennelError } from "./index.js";

/** Name of the platform package for this host, e.g. `@kennel/linux-x64`. */
export function platformPackage(platform: string = process.platform, arch: string = process.arch): string {
  return `@kennel/${platform}-${arch}`;
}

/** File name of the binary on `platform` (`kennel.exe` on Windows). */
export function binaryName(platform: string = process.platform): string {
  return platform === "win32" ? "kennel.exe" : "kennel";
}

/** What {@link locateKennelBin} consults; every field defaults to this process's view. */
export interface LocateContext {
  /** Environment (for `KENNEL_BIN` and `PATH`). Default `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** Default `process.platform`. */
  platform?: string;
  /** Default `process.arch`. */
  arch?: string;
  /**
   * Resolves a package's `package.json` to a path, or throws if it is not installed.
   * Default: `require.resolve` from this module (where npm puts it beside or under an
   * installed `kennel`), then from the main script's folder and from the working
   * directory (a `kennel` installed from a path is a symlink, resolved from its real
   * folder, which does not see the project's node_modules).
   */
  resolvePackage?: (specifier: string) => string;
}

const localRequire = createRequire(import.meta.url);

/** `require.resolve` from this module, then from the main script's folder, then from the cwd. */
function resolveFromInstall(specifier: string): string {
  const bases = [import.meta.url];
  if (process.argv[1]) bases.push(path.join(path.dirname(path.resolve(process.argv[1])), "noop.js"));
  bases.push(path.join(process.cwd(), "noop.js"));
  let first: unknown;
  for (const base of bases) {
    try {
      return (base === import.meta.url ? localRequire : createRequire(base)).resolve(specifier);
    } catch (e) {
      first ??= e;
    }
  }
  throw first;
}

function isExecutableFile(p: string, platform: string): boolean {
  try {
    if (!statSync(p).isFile()) return false;
    if (platform !== "win32") accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * The sidecar binary: `bin`, else env `KENNEL_BIN`, else the platform package
 * (`@kennel/<platform>-<arch>`), else `kennel` on `PATH`. Throws a {@link KennelError}
 * `bin_not_found` listing every place it looked. `bin` and `KENNEL_BIN` are taken as
 * given (a wrong path shows as `start_failed` naming it).
 */
export function locateKennelBin(bin?: string, ctx: LocateContext = {}): string {
  if (bin !== undefined && bin !== "") return bin;
  const env = ctx.env ?? process.env;
  const fromEnv = env["KENNEL_BIN"];
  if (fromEnv !== undefined && fromEnv !== "") return fromEnv;

  const platform = ctx.platform ?? process.platform;
  const arch = ctx.arch ?? process.arch;
  const exe = binaryName(platform);
  const looked: string[] = ["the `bin` option: not given", "env KENNEL_BIN: not set"];

  const pkg = platformPackage(platform, arch);
  const resolve = ctx.resolvePackage ?? resolveFromInstall;
  let pkgJson: string | undefined;
  try {
    pkgJson = resolve(`${pkg}/package.json`);
  } catch {
    looked.push(`platform package ${pkg}: not installed (it is an optional dependency of kennel; was it installed with --omit=optional or on another platform?)`);
  }
  if (pkgJson !== undefined) {
    const candidate = path.join(path.dirname(pkgJson), "bin", exe);
    if (isExecutableFile(candidate, platform)) return candidate;
    looked.push(`platform package ${pkg}: installed, but ${candidate} is missing or not executable`);
  }

  const pathVar = env["PATH"] ?? env["Path"] ?? "";
  const dirs = pathVar.split(path.delimiter).filter((d) => d !== "");
  for (const dir of dirs) {
    const candidate = path.join(dir, exe);
    if (isExecutableFile(candidate, platform)) return candidate;
  }
  looked.push(dirs.length === 0 ? "PATH: empty" : `PATH: no executable ${exe} in ${dirs.join(path.delimiter)}`);

  throw new KennelError(
    "bin_not_found",
    "kennel binary not found. Looked at, in order:\n" +
      looked.map((l, i) => `  ${i + 1}. ${l}`).join("\n") +
      `\nInstall ${pkg} (npm installs it with kennel on supported platforms), put \`kennel\` on PATH, ` +
      "set KENNEL_BIN to the path of the executable, or pass the `bin` option (Kennel.start({ bin: '/path/to/kennel' })).",
  );
}
