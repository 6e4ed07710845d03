// `prepack` / `postpack`: the published package.json lists the platform packages
// (npm/*/package.json) as optionalDependencies; the one in the repository does not, since
// they are not in the registry while developing and `npm ci` would reject a lock file
// that cannot list them.
//
//   node scripts/pack-manifest.mjs prepack    # add optionalDependencies (backup kept)
//   node scripts/pack-manifest.mjs postpack   # restore package.json from the backup
import { existsSync, readdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const manifest = path.join(root, "package.json");
const backup = path.join(root, ".package.json.prepack");

/** `{ "@kennel/<platform>": version }` for every platform package; versions must match kennel's. */
export function platformDependencies(version) {
  const deps = {};
  for (const dir of readdirSync(path.join(root, "npm")).sort()) {
    const f = path.join(root, "npm", dir, "package.json");
    if (!existsSync(f)) continue;
    const pkg = JSON.parse(readFileSync(f, "utf8"));
    if (pkg.version !== version) throw new Error(`${pkg.name} is at ${pkg.version} but kennel at ${version}: bump them together`);
    deps[pkg.name] = pkg.version;
  }
  return deps;
}

const mode = process.argv[2];
if (mode === "prepack") {
  if (existsSync(backup)) renameSync(backup, manifest); // a previous pack died: start clean
  const text = readFileSync(manifest, "utf8");
  const pkg = JSON.parse(text);
  writeFileSync(backup, text);
  pkg.optionalDependencies = platformDependencies(pkg.version);
  writeFileSync(manifest, JSON.stringify(pkg, null, 2) + "\n");
} else if (mode === "postpack") {
  if (existsSync(backup)) renameSync(backup, manifest);
} else {
  throw new Error("usage: pack-manifest.mjs prepack|postpack");
}
