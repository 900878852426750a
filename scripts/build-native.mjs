#!/usr/bin/env node
/* global process, console */
/**
 * Builds the optional age STREAM addon (native/age_stream.c, age_file.c, hash_files.c and
 * scan_dir.c) into build/native/age_stream.node with the system C compiler and the running
 * Node's own headers (N-API + OpenSSL), without network access (node-gyp would download
 * headers). Runs as the package's `install` script.
 *
 * It never fails: without a compiler or headers backdrill falls back to node:crypto (slower), so
 * this prints one warning line and exits 0. The CI unit tests assert that the addon loaded.
 *
 * Environment: CC (compiler, default `cc`).
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, renameSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = dirname(dirname(fileURLToPath(import.meta.url)));
/** The addon's sources: the batch API (and module entry), the file API, small-file hashing, the walk. */
const sources = ["age_stream.c", "age_file.c", "hash_files.c", "scan_dir.c"].map((file) =>
  join(root, "native", file),
);
const outDir = join(root, "build", "native");
const target = join(outDir, "age_stream.node");

function warn(message) {
  console.warn(`backdrill: native age addon not built (${message}); using node:crypto (slower)`);
  process.exit(0);
}

/** The running Node's headers: <prefix>/include/node, as installed by every Node distribution. */
function includeDir() {
  const candidates = [
    join(dirname(dirname(process.execPath)), "include", "node"),
    "/usr/include/node",
    "/usr/local/include/node",
  ];
  return candidates.find(
    (dir) => existsSync(join(dir, "node_api.h")) && existsSync(join(dir, "openssl", "evp.h")),
  );
}

function main() {
  const missing = sources.find((source) => !existsSync(source));
  if (missing !== undefined) warn(`${missing} is missing`);
  if (process.platform !== "linux" && process.platform !== "darwin")
    warn(`unsupported platform ${process.platform}`);
  const include = includeDir();
  if (include === undefined) warn("no Node headers with OpenSSL found next to the node binary");
  const cc = process.env.CC || "cc";
  const args = [
    "-O2",
    "-fPIC",
    "-shared",
    "-std=c11",
    "-pthread",
    "-Wall",
    "-DNAPI_VERSION=8",
    `-I${include}`,
    ...sources,
    "-o",
    `${target}.tmp`,
  ];
  // OpenSSL and N-API symbols come from the node binary at load time: never link -lcrypto.
  if (process.platform === "darwin") args.unshift("-undefined", "dynamic_lookup");
  mkdirSync(outDir, { recursive: true });
  const result = spawnSync(cc, args, { encoding: "utf8" });
  if (result.error !== undefined) warn(`cannot run ${cc}: ${result.error.message}`);
  if (result.status !== 0) {
    rmSync(`${target}.tmp`, { force: true });
    const detail = (result.stderr || "")
      .trim()
      .split("\n")
      .find((line) => /error/i.test(line));
    warn(`${cc} failed${detail === undefined ? "" : `: ${detail.trim()}`}`);
  }
  // Replace atomically: a running process may have the previous build mapped.
  renameSync(`${target}.tmp`, target);
  console.log(`backdrill: built ${target}`);
}

try {
  main();
} catch (error) {
  warn(error instanceof Error ? error.message : String(error));
}
