// `prepare` (run by npm on `npm install <path>`, on git installs, on `npm pack` and
// `npm publish`, and after `npm ci` here): build dist/src, so kennel installs like a
// package with no manual build step. A folder installed by path is linked, not packed,
// and npm does not install its devDependencies: fetch the compiler first if it is
// missing (npm does the same for git dependencies).
import { execFileSync } from "node:child_process";
import { existsSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(path.join(root, "package.json"));

function findTsc() {
  try {
    return require.resolve("typescript/bin/tsc");
  } catch {
    return undefined;
  }
}

let tsc = findTsc();
if (tsc === undefined) {
  const npm = process.env["npm_execpath"];
  const args = existsSync(path.join(root, "package-lock.json")) ? ["ci"] : ["install", "--no-save"];
  args.push("--ignore-scripts", "--no-audit", "--no-fund", "--include=dev");
  console.error(`kennel: building dist/src; installing the build tools first (npm ${args.join(" ")})`);
  if (npm) execFileSync(process.execPath, [npm, ...args], { cwd: root, stdio: "inherit" });
  else execFileSync(process.platform === "win32" ? "npm.cmd" : "npm", args, { cwd: root, stdio: "inherit", shell: process.platform === "win32" });
  tsc = findTsc();
  if (tsc === undefined) throw new Error("kennel: typescript is still missing after installing the devDependencies");
}
rmSync(path.join(root, "dist", "src"), { recursive: true, force: true });
execFileSync(process.execPath, [tsc, "-p", path.join(root, "tsconfig.build.json")], { cwd: root, stdio: "inherit" });
