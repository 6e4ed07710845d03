// Binary discovery: `bin`, KENNEL_BIN, the platform package, PATH — in that order; the
// error lists every place looked at.
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { KennelError } from "../src/index.js";
import { binaryName, locateKennelBin, platformPackage } from "../src/locate.js";

const work = mkdtempSync(path.join(tmpdir(), "kennel-locate-"));
after(() => rmSync(work, { recursive: true, force: true }));

function executable(dir: string, name = "kennel", mode = 0o755): string {
  mkdirSync(dir, { recursive: true });
  const f = path.join(dir, name);
  writeFileSync(f, "#!/bin/sh\n");
  chmodSync(f, mode);
  return f;
}

const pkgDir = path.join(work, "node_modules", "@kennel", "linux-x64");
const pkgBin = executable(path.join(pkgDir, "bin"));
writeFileSync(path.join(pkgDir, "package.json"), "{}");
const pathDir = path.join(work, "pathdir");
const pathBin = executable(pathDir);
const installed = (s: string) => {
  assert.equal(s, "@kennel/linux-x64/package.json");
  return path.join(pkgDir, "package.json");
};
const missing = (s: string): string => {
  throw Object.assign(new Error(`Cannot find module '${s}'`), { code: "MODULE_NOT_FOUND" });
};
const linux = { platform: "linux", arch: "x64" };

describe("locate: order", () => {
  test("names", () => {
    assert.equal(platformPackage("darwin", "arm64"), "@kennel/darwin-arm64");
    assert.equal(platformPackage("win32", "x64"), "@kennel/win32-x64");
    assert.equal(binaryName("win32"), "kennel.exe");
    assert.equal(binaryName("linux"), "kennel");
  });

  test("1. the bin option wins over everything", () => {
    assert.equal(locateKennelBin("/opt/k", { ...linux, env: { KENNEL_BIN: "/env/k", PATH: pathDir }, resolvePackage: installed }), "/opt/k");
  });

  test("2. KENNEL_BIN wins over the platform package and PATH", () => {
    assert.equal(locateKennelBin(undefined, { ...linux, env: { KENNEL_BIN: "/env/k", PATH: pathDir }, resolvePackage: installed }), "/env/k");
    assert.equal(locateKennelBin("", { ...linux, env: { KENNEL_BIN: "/env/k" }, resolvePackage: installed }), "/env/k");
  });

  test("3. the platform package wins over PATH", () => {
    assert.equal(locateKennelBin(undefined, { ...linux, env: { KENNEL_BIN: "", PATH: pathDir }, resolvePackage: installed }), pkgBin);
  });

  test("4. PATH last; a non-executable file on PATH is skipped", () => {
    const noexec = path.join(work, "noexec");
    executable(noexec, "kennel", 0o644);
    const env = { PATH: [path.join(work, "nothing-here"), noexec, pathDir].join(path.delimiter) };
    assert.equal(locateKennelBin(undefined, { ...linux, env, resolvePackage: missing }), pathBin);
  });

  test("nothing found: bin_not_found lists every place looked at, in order", () => {
    const env = { PATH: path.join(work, "nothing-here") };
    assert.throws(
      () => locateKennelBin(undefined, { ...linux, env, resolvePackage: missing }),
      (e: unknown) => {
        assert.ok(e instanceof KennelError);
        assert.equal(e.code, "bin_not_found");
        const lines = e.message.split("\n");
        assert.match(lines[1]!, /1\. the `bin` option: not given/);
        assert.match(lines[2]!, /2\. env KENNEL_BIN: not set/);
        assert.match(lines[3]!, /3\. platform package @kennel\/linux-x64: not installed/);
        assert.match(lines[4]!, new RegExp(`4\\. PATH: no executable kennel in ${path.join(work, "nothing-here")}`));
        return true;
      },
    );
  });

  test("a platform package without its binary says so, then PATH is searched", () => {
    const empty = path.join(work, "empty-pkg");
    mkdirSync(empty, { recursive: true });
    writeFileSync(path.join(empty, "package.json"), "{}");
    const resolvePackage = () => path.join(empty, "package.json");
    assert.equal(locateKennelBin(undefined, { ...linux, env: { PATH: pathDir }, resolvePackage }), pathBin);
    assert.throws(() => locateKennelBin(undefined, { ...linux, env: {}, resolvePackage }), (e: unknown) => {
      assert.match((e as Error).message, /installed, but .*empty-pkg\/bin\/kennel is missing or not executable/);
      assert.match((e as Error).message, /PATH: empty/);
      return true;
    });
  });
});
