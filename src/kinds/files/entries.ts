/**
 * The per-file manifest of a `files` snapshot: what the drill and a restore check against.
 * Stored encrypted in the repository as the JSON-lines artifact `files.jsonl` (one entry per
 * line, sorted by path), not in the facts, so a tree of a million files is streamed rather than
 * parsed as one JSON document.
 */
import * as z from "zod";
import { containedPathSchema, sha256HexSchema } from "../facts-values.js";

export const FILES_MANIFEST_ARTIFACT = "files.jsonl";

export type EntryType = "file" | "dir" | "symlink" | "other";

export interface FileEntry {
  /** Relative to the snapshot root, `/`-separated, no leading `./`. */
  path: string;
  type: EntryType;
  /** Bytes for files; 0 for everything else (directory sizes differ between file systems). */
  size: number;
  /** Modification time, ISO 8601 with milliseconds. */
  mtime: string;
  /** Permission bits as 4 octal digits, e.g. "0644". */
  mode: string;
  uid: number;
  gid: number;
  /** Regular files only. */
  sha256?: string;
  /** Symlinks only: where the link points (never followed). */
  target?: string;
}

/** An entry as a scan sees it: the manifest fields plus what identifies unchanged content. */
export interface ScannedEntry extends Omit<FileEntry, "sha256" | "mtime"> {
  /** Device and inode number (decimal): which file this is, for the hard-link hash cache. */
  dev: string;
  ino: string;
  /** Modification time in nanoseconds since the epoch (decimal). */
  mtimeNs: string;
  /** Inode change time, ns (decimal); local scans only (see source-changes.ts). */
  ctimeNs?: string;
}

export function modeString(bits: number): string {
  return (bits & 0o7777).toString(8).padStart(4, "0");
}

export function isoFromNs(ns: string): string {
  return new Date(Number(BigInt(ns) / 1_000_000n)).toISOString();
}

/** `find -printf %T@` ("1700000000.1234567890") to nanoseconds; exact, no float rounding. */
export function nsFromSecondsText(text: string): string {
  const [whole = "0", fraction = ""] = text.split(".");
  const ns = BigInt(whole) * 1_000_000_000n + BigInt(fraction.padEnd(9, "0").slice(0, 9) || "0");
  return ns.toString();
}

export function toFileEntry(scanned: ScannedEntry, sha256: string | undefined): FileEntry {
  const entry: FileEntry = {
    path: scanned.path,
    type: scanned.type,
    size: scanned.type === "file" ? scanned.size : 0,
    mtime: isoFromNs(scanned.mtimeNs),
    mode: scanned.mode,
    uid: scanned.uid,
    gid: scanned.gid,
  };
  if (sha256 !== undefined) entry.sha256 = sha256;
  if (scanned.target !== undefined) entry.target = scanned.target;
  return entry;
}

export function byPath<T extends { path: string }>(a: T, b: T): number {
  return a.path < b.path ? -1 : a.path > b.path ? 1 : 0;
}

const entrySchema = z.object({
  path: containedPathSchema,
  type: z.enum(["file", "dir", "symlink", "other"]),
  size: z.number().int().nonnegative(),
  mtime: z.string().max(64),
  mode: z.string().regex(/^[0-7]{4}$/),
  uid: z.number().int().nonnegative(),
  gid: z.number().int().nonnegative(),
  sha256: sha256HexSchema.optional(),
  target: z
    .string()
    .max(4096)
    .refine((value) => !value.includes("\0"))
    .optional(),
});

/**
 * Parses one line of files.jsonl; throws naming the line when it is not an entry. Paths are
 * joined to the restored tree to hash and compare files, so each must stay inside it.
 */
export function parseEntryLine(line: string, lineNumber: number): FileEntry {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    throw new Error(`${FILES_MANIFEST_ARTIFACT} line ${lineNumber} is not JSON`);
  }
  const parsed = entrySchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue === undefined ? "" : ` (${issue.path.join(".")}: ${issue.message})`;
    throw new Error(`${FILES_MANIFEST_ARTIFACT} line ${lineNumber} is not a file entry${where}`);
  }
  const entry: FileEntry = { ...parsed.data } as FileEntry;
  if (entry.sha256 === undefined) delete entry.sha256;
  if (entry.target === undefined) delete entry.target;
  return entry;
}
