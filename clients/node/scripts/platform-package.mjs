// Fill a platform package (npm/<platform>-<arch>/) with a kennel binary and pack it.
//
//   node scripts/platform-package.mjs [--binary PATH] [--platform linux-x64] [--out DIR] [--no-pack]
//
// --binary  the kennel executable to ship (default: ../../target/release/kennel[.exe])
// --platform which package (default: this host's, e.g. linux-x64)
// --out     where `npm pack` writes the tarball (default: the package folder)
// Prints the tarball's absolute path (or the package folder with --no-pack).
import { execFileSync } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
function opt(name, dflt) {
  const i = args.indexOf(name);
  if (i === -1) return dflt;
  const v = args[i + 1];
  if (v === undefined) throw new Error(`${name} needs a value`);
  return v;
}

const platform = opt("--platform", `${process.platform}-${process.arch}`);
const win = platform.startsWith("win32-");
const exe = win ? "kennel.exe" : "kennel";
const binary = path.resolve(opt("--binary", path.join(root, "..", "..", "target", "release", exe)));
const dir = path.join(root, "npm", platform);
if (!existsSync(path.join(dir, "package.json"))) throw new Error(`no platform package ${dir} (known: see ${path.join(root, "npm")})`);
if (!existsSync(binary)) throw new Error(`kennel binary ${binary} does not exist (cargo build --release -p kennel-cli, or pass --binary)`);

const pkg = JSON.parse(readFileSync(path.join(dir, "package.json"), "utf8"));
const main = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8"));
if (pkg.version !== main.version) throw new Error(`${pkg.name} is at ${pkg.version} but kennel at ${main.version}: bump them together`);

mkdirSync(path.join(dir, "bin"), { recursive: true });
const dest = path.join(dir, "bin", exe);
copyFileSync(binary, dest);
if (!win) chmodSync(dest, 0o755);

if (args.includes("--no-pack")) {
  console.log(dir);
} else {
  const out = path.resolve(opt("--out", dir));
  mkdirSync(out, { recursive: true });
  const npm = process.env["npm_execpath"];
  const packArgs = ["pack", "--pack-destination", out, "--json"];
  const json = npm
    ? execFileSync(process.execPath, [npm, ...packArgs], { cwd: dir, encoding: "utf8" })
    : execFileSync(win && process.platform === "win32" ? "npm.cmd" : "npm", packArgs, { cwd: dir, encoding: "utf8", shell: process.platform === "win32" });
  const [info] = JSON.parse(json);
  console.log(path.join(out, info.filename));
}
