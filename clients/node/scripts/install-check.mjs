// Install kennel the way a user does, into empty projects, and use it with no
// configuration (no KENNEL_BIN, no kennel on PATH): the binary must come from the
// platform package.
//
//   node scripts/install-check.mjs --binary PATH [--mode tarball|path|both] [--keep]
//
// tarball: `npm pack` the client and the platform package, `npm install --offline` both
//          tarballs into an empty project.
// path:    `npm install --offline <client folder> <platform tarball>` (the folder is
//          linked and built by its `prepare` script).
// Works on a copy of the client (src, scripts, npm/, package.json, tsconfigs; its
// node_modules linked to this one's, so no download), so the checkout is not touched.
// Each project then runs a script that spawns `echo` through kennel/process and
// checks its output. Exits non-zero with what went wrong.
import { execFileSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i === -1 ? dflt : args[i + 1];
};
const binary = opt("--binary");
if (!binary) throw new Error("--binary PATH (the kennel executable to put in the platform package) is required");
const mode = opt("--mode", "both");
const platform = `${process.platform}-${process.arch}`;

const npmExec = process.env["npm_execpath"];
/** Runs npm; returns stdout. */
function npm(cwd, ...a) {
  const env = { ...process.env };
  delete env["KENNEL_BIN"];
  // npm_config_* of an enclosing `npm test` (e.g. a prefix) must not leak into these projects.
  for (const k of Object.keys(env)) if (k.startsWith("npm_config_")) delete env[k];
  const opts = { cwd, env, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] };
  try {
    return npmExec ? execFileSync(process.execPath, [npmExec, ...a], opts) : execFileSync(process.platform === "win32" ? "npm.cmd" : "npm", a, { ...opts, shell: process.platform === "win32" });
  } catch (e) {
    throw new Error(`npm ${a.join(" ")} in ${cwd} failed:\n${e.stdout ?? ""}${e.stderr ?? ""}`);
  }
}

const work = mkdtempSync(path.join(tmpdir(), "kennel-install-check-"));
try {
  // A copy of the client, as a clean checkout has it (plus the compiler, linked).
  const client = path.join(work, "client");
  mkdirSync(client);
  for (const f of ["src", "scripts", "npm", "package.json", "tsconfig.json", "tsconfig.build.json", "README.md"]) {
    cpSync(path.join(root, f), path.join(client, f), { recursive: true, filter: (s) => !s.includes(`${path.sep}bin${path.sep}`) && !s.endsWith(".tgz") });
  }
  symlinkSync(path.join(root, "node_modules"), path.join(client, "node_modules"), "junction");

  const packs = path.join(work, "packs");
  const platformTgz = execFileSync(process.execPath, [path.join(client, "scripts", "platform-package.mjs"), "--binary", path.resolve(binary), "--out", packs], {
    encoding: "utf8",
  }).trim();

  // `echo` (on Windows, where echo is a shell builtin: node printing the same line).
  const cmd = process.platform === "win32" ? [process.execPath, "-e", "console.log('kennel-install-check')"] : ["echo", "kennel-install-check"];
  const script = [
    'import { Process } from "kennel/process";',
    `const r = await Process.text(${JSON.stringify(cmd)});`,
    'if (r.text !== "kennel-install-check\\n" || r.code !== 0) { console.error("unexpected", JSON.stringify(r.text), r.code); process.exit(1); }',
    'console.log("ok");',
  ].join("\n");

  // kennel/process/effect with the optional peer `effect` installed by the app: the
  // version the client was developed with, by the URL of its tarball, which `npm ci` of
  // the client put in the npm cache. (`effect@<version>` would need the registry's
  // package document too, which `npm ci` does not fetch: on a fresh machine's cache,
  // `--offline` failed with ENOTCACHED.)
  const effectVersion = JSON.parse(readFileSync(path.join(root, "node_modules", "effect", "package.json"), "utf8")).version;
  const locked = JSON.parse(readFileSync(path.join(root, "package-lock.json"), "utf8")).packages?.["node_modules/effect"];
  const registry = npm(root, "config", "get", "registry").trim().replace(/\/$/, "");
  const effectSpec = locked?.resolved ?? `${registry}/effect/-/effect-${effectVersion}.tgz`;
  const effectScript = [
    'import { Effect } from "effect";',
    'import { Process } from "kennel/process/effect";',
    `const r = await Effect.runPromise(Effect.provide(Effect.gen(function* () { return yield* (yield* Process.Service).text(${JSON.stringify(cmd)}); }), Process.defaultLayer));`,
    'if (r.text !== "kennel-install-check\\n") { console.error("unexpected", JSON.stringify(r.text)); process.exit(1); }',
    'console.log("ok");',
  ].join("\n");

  const check = (label, installArgs) => {
    const proj = path.join(work, label);
    mkdirSync(proj);
    writeFileSync(path.join(proj, "package.json"), JSON.stringify({ name: `check-${label}`, private: true, type: "module" }));
    npm(proj, "install", "--offline", "--no-audit", "--no-fund", ...installArgs);
    writeFileSync(path.join(proj, "check.mjs"), script);
    const env = { ...process.env, PATH: "/usr/bin:/bin" };
    delete env["KENNEL_BIN"];
    if (process.platform === "win32") env["PATH"] = process.env["PATH"] ?? "";
    const out = execFileSync(process.execPath, ["check.mjs"], { cwd: proj, env, encoding: "utf8" });
    if (out.trim() !== "ok") throw new Error(`${label}: the check script printed ${JSON.stringify(out)}`);
    writeFileSync(path.join(proj, "check-effect.mjs"), effectScript);
    const outEffect = execFileSync(process.execPath, ["check-effect.mjs"], { cwd: proj, env, encoding: "utf8" });
    if (outEffect.trim() !== "ok") throw new Error(`${label}: the Effect check script printed ${JSON.stringify(outEffect)}`);
    console.log(`install-check ${label}: ok (${platform}, no KENNEL_BIN, kennel from @kennel/${platform}; kennel/process/effect with effect@${effectVersion})`);
  };

  if (mode === "tarball" || mode === "both") {
    const packed = JSON.parse(npm(client, "pack", "--json", "--pack-destination", packs));
    const tgz = path.join(packs, packed[0].filename);
    // The published manifest lists this host's platform package as an optional dependency,
    // and the checkout's package.json is restored after packing.
    const published = JSON.parse(execFileSync("tar", ["-xOzf", tgz, "package/package.json"], { encoding: "utf8" }));
    const want = `@kennel/${platform}`;
    if (published.optionalDependencies?.[want] !== published.version) throw new Error(`the packed package.json does not list ${want}@${published.version}: ${JSON.stringify(published.optionalDependencies)}`);
    if (JSON.parse(readFileSync(path.join(client, "package.json"), "utf8")).optionalDependencies !== undefined) throw new Error("package.json was not restored after npm pack");
    check("tarball", [tgz, platformTgz, effectSpec]);
  }
  if (mode === "path" || mode === "both") check("path", [client, platformTgz, effectSpec]);
} finally {
  if (!args.includes("--keep")) rmSync(work, { recursive: true, force: true });
  else console.log(`kept ${work}`);
}
