/**
 * Checks a restored tree against the snapshot's manifest: the same entries (nothing missing,
 * nothing extra), the same metadata, and the same sha256 for every file (or a random sample).
 * Hashing runs where the tree is (sha256sum inside a drill container or on a restore host).
 */
import { formatBytes } from "../../util/format-bytes.js";
import { pickSample } from "../../util/sample.js";
import { readArtifactLines } from "../artifact-read.js";
import type { ArtifactReader, CheckResult } from "../contract.js";
import { isoFromNs, parseEntryLine, type FileEntry, type ScannedEntry } from "./entries.js";
import type { Place } from "./place.js";

const LISTED = 5;

export async function readManifestEntries(
  artifacts: ArtifactReader,
  name: string,
  signal: AbortSignal,
): Promise<FileEntry[]> {
  return readArtifactLines(artifacts, name, signal, parseEntryLine);
}

export interface VerifyDetails {
  entries: number;
  files: number;
  bytes: number;
  checkedFiles: number;
  checkedBytes: number;
  missing: number;
  extra: number;
  metadataMismatches: number;
  checksumMismatches: number;
  hashMs: number;
  /** MiB/s of hashing inside the target (0 when nothing was hashed). */
  hashMiBps: number;
}

export interface VerifyOptions {
  /** Hash only this many random files; undefined: all. */
  sample?: number | undefined;
  /** Compare uid/gid (only meaningful when the restore ran as root). */
  owners: boolean;
  signal: AbortSignal;
}

function listSome(paths: readonly string[]): string {
  const shown = paths.slice(0, LISTED).map((p) => JSON.stringify(p));
  return paths.length > LISTED ? `${shown.join(", ")} and ${paths.length - LISTED} more` : shown.join(", ");
}

/** Compares one restored entry with the manifest; returns what differs. */
export function metadataDifferences(expected: FileEntry, actual: ScannedEntry, owners: boolean): string[] {
  const out: string[] = [];
  if (expected.type !== actual.type) return [`type ${actual.type}, expected ${expected.type}`];
  if (expected.type === "file" && expected.size !== actual.size)
    out.push(`size ${actual.size}, expected ${expected.size}`);
  if (expected.type !== "symlink" && expected.mode !== actual.mode)
    out.push(`mode ${actual.mode}, expected ${expected.mode}`);
  if (expected.type === "file" && isoFromNs(actual.mtimeNs) !== expected.mtime) {
    out.push(`mtime ${isoFromNs(actual.mtimeNs)}, expected ${expected.mtime}`);
  }
  if (expected.type === "symlink" && expected.target !== actual.target) {
    out.push(`target ${JSON.stringify(actual.target)}, expected ${JSON.stringify(expected.target)}`);
  }
  if (owners && (expected.uid !== actual.uid || expected.gid !== actual.gid)) {
    out.push(`owner ${actual.uid}:${actual.gid}, expected ${expected.uid}:${expected.gid}`);
  }
  return out;
}

export async function verifyTree(
  place: Place,
  dir: string,
  expected: readonly FileEntry[],
  options: VerifyOptions,
): Promise<{ checks: CheckResult[]; details: VerifyDetails }> {
  const scanned = await place.scan(dir, options.signal);
  const actual = new Map(scanned.map((entry) => [entry.path, entry]));
  const wanted = new Set(expected.map((entry) => entry.path));
  const missing = expected.filter((entry) => !actual.has(entry.path)).map((entry) => entry.path);
  const extra = scanned
    .filter((entry) => !wanted.has(entry.path))
    .map((entry) => entry.path)
    .sort();

  const metadata: string[] = [];
  for (const entry of expected) {
    const found = actual.get(entry.path);
    if (found === undefined) continue;
    const differences = metadataDifferences(entry, found, options.owners);
    if (differences.length > 0) metadata.push(`${JSON.stringify(entry.path)}: ${differences.join(", ")}`);
  }

  const files = expected.filter((entry) => entry.type === "file");
  const present = files.filter((entry) => actual.get(entry.path)?.type === "file");
  const sample = pickSample(present, options.sample);
  const hashStarted = Date.now();
  const hashes = await place.hash(
    dir,
    sample.map((entry) => ({ path: entry.path, size: entry.size })),
    options.signal,
  );
  const hashMs = Date.now() - hashStarted;
  const bad = sample.filter((entry) => hashes.get(entry.path) !== entry.sha256).map((entry) => entry.path);
  const checkedBytes = sample.reduce((sum, entry) => sum + entry.size, 0);
  const bytes = files.reduce((sum, entry) => sum + entry.size, 0);

  const checks: CheckResult[] = [
    {
      name: "file list",
      ok: missing.length === 0 && extra.length === 0,
      detail:
        missing.length === 0 && extra.length === 0
          ? `${expected.length} entries, as in the snapshot`
          : [
              missing.length > 0 ? `${missing.length} missing: ${listSome(missing)}` : "",
              extra.length > 0 ? `${extra.length} not in the snapshot: ${listSome(extra)}` : "",
            ]
              .filter((part) => part !== "")
              .join("; "),
    },
    {
      name: "metadata",
      ok: metadata.length === 0,
      detail:
        metadata.length === 0
          ? `sizes, modes, mtimes, symlink targets${options.owners ? ", owners" : ""} match`
          : `${metadata.length} differ: ${metadata.slice(0, LISTED).join("; ")}${metadata.length > LISTED ? "; …" : ""}`,
    },
    {
      name: options.sample === undefined ? "sha256 of every file" : `sha256 of ${sample.length} random files`,
      ok: bad.length === 0 && present.length === files.length,
      detail:
        bad.length === 0
          ? `${sample.length} of ${files.length} files checked (${formatBytes(checkedBytes)}), all match` +
            (present.length === files.length ? "" : `; ${files.length - present.length} files missing`)
          : `${bad.length} of ${sample.length} differ: ${listSome(bad)}`,
    },
  ];
  return {
    checks,
    details: {
      entries: expected.length,
      files: files.length,
      bytes,
      checkedFiles: sample.length,
      checkedBytes,
      missing: missing.length,
      extra: extra.length,
      metadataMismatches: metadata.length,
      checksumMismatches: bad.length,
      hashMs,
      hashMiBps: hashMs > 0 ? Math.round((checkedBytes / 1024 / 1024 / (hashMs / 1000)) * 10) / 10 : 0,
    },
  };
}
