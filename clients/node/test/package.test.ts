// Installs like a package: `npm pack` + `npm install <tarball>`, and `npm install <path>`,
// into empty projects, offline, then spawns `echo` through kennel/process with no
// KENNEL_BIN and no kennel on PATH (the binary comes from the platform package, filled
// with the kennel under test). See scripts/install-check.mjs.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { KENNEL_BIN } from "../support/helpers.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const platformDir = path.join(root, "npm", `${process.platform}-${process.arch}`);

test("npm install <tarball> and npm install <path> work with no configuration", { timeout: 300_000, skip: existsSync(platformDir) ? false : `no platform package for ${process.platform}-${process.arch}` }, async () => {
  const out = await new Promise<string>((res, rej) =>
    execFile(process.execPath, [path.join(root, "scripts", "install-check.mjs"), "--binary", KENNEL_BIN, "--mode", "both"], { encoding: "utf8", timeout: 280_000 }, (err, stdout, stderr) =>
      err ? rej(new Error(`${err.message}\n${stdout}\n${stderr}`)) : res(stdout),
    ),
  );
  assert.match(out, /install-check tarball: ok/);
  assert.match(out, /install-check path: ok/);
});
