/**
 * The object manifest of an `s3-bucket` snapshot: one entry per current object (the newest
 * version of each key that is not a delete marker) at the moment of the listing. Stored encrypted
 * as the JSON-lines artifact `objects.jsonl` (keys can tell a lot about the data).
 *
 * With `copy: true` each object's bytes are also stored as an artifact. Artifact names are
 * restricted (`^[A-Za-z0-9][A-Za-z0-9._-]*$`) and keys are not, so objects are stored as
 * `obj-<index>` and the entry says which.
 */
import type { ObjectVersion } from "@aws-sdk/client-s3";
import * as z from "zod";
import { plainText, sha256HexSchema } from "../facts-values.js";

export const OBJECTS_ARTIFACT = "objects.jsonl";

export interface ObjectEntry {
  key: string;
  versionId: string;
  /** Without quotes. A plain MD5 for single-part uploads; `<md5>-<parts>` for multipart ones. */
  etag: string;
  size: number;
  lastModified: string;
  /** With copy: true, the artifact holding the bytes. */
  artifact?: string;
  /** With copy: true, sha256 of the bytes, computed while copying. */
  sha256?: string;
}

export function artifactNameFor(index: number): string {
  return `obj-${String(index).padStart(7, "0")}`;
}

export function unquote(etag: string | undefined): string {
  return (etag ?? "").replace(/^"|"$/g, "");
}

/** True when the ETag is the object's MD5 (single-part upload, no SSE-KMS). */
export function isPlainMd5(etag: string): boolean {
  return /^[0-9a-f]{32}$/.test(etag);
}

/**
 * The current version of each key from ListObjectVersions pages: `IsLatest` versions. A key
 * whose latest entry is a delete marker has no latest *version*, so deleted keys drop out.
 */
export function currentVersions(versions: readonly ObjectVersion[]): ObjectEntry[] {
  const out: ObjectEntry[] = [];
  for (const version of versions) {
    if (version.IsLatest !== true || version.Key === undefined) continue;
    out.push({
      key: version.Key,
      // An object written before versioning was enabled has the version id "null".
      versionId: version.VersionId ?? "null",
      etag: unquote(version.ETag),
      size: version.Size ?? 0,
      lastModified: (version.LastModified ?? new Date(0)).toISOString(),
    });
  }
  return out;
}

const entrySchema = z.object({
  // S3 keys are at most 1024 bytes of UTF-8; they only ever go into S3 requests.
  key: z
    .string()
    .min(1)
    .refine((key) => Buffer.byteLength(key, "utf8") <= 1024, { error: "longer than 1024 bytes" }),
  versionId: plainText(1024),
  etag: plainText(256),
  size: z.number().int().nonnegative(),
  lastModified: plainText(64),
  /** Only the per-object artifacts the backup writes (`obj-0000001`), never another artifact. */
  artifact: z
    .string()
    .regex(/^obj-\d{7,}$/, { error: "not an object artifact (obj-NNNNNNN)" })
    .optional(),
  sha256: sha256HexSchema.optional(),
});

export function parseObjectLine(line: string, lineNumber: number): ObjectEntry {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    throw new Error(`${OBJECTS_ARTIFACT} line ${lineNumber} is not JSON`);
  }
  const parsed = entrySchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue === undefined ? "" : ` (${issue.path.join(".")}: ${issue.message})`;
    throw new Error(`${OBJECTS_ARTIFACT} line ${lineNumber} is not an object entry${where}`);
  }
  const entry: ObjectEntry = { ...parsed.data } as ObjectEntry;
  if (entry.artifact === undefined) delete entry.artifact;
  if (entry.sha256 === undefined) delete entry.sha256;
  return entry;
}

/** `s3://bucket` or `s3://bucket/prefix` → bucket and a prefix ending in "/" (or ""). */
export function parseS3Target(text: string): { bucket: string; prefix: string } | undefined {
  const match = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:\/(.*))?$/.exec(text);
  if (match === null) return undefined;
  const raw = (match[2] ?? "").replace(/^\/+/, "");
  return { bucket: match[1] as string, prefix: raw === "" || raw.endsWith("/") ? raw : `${raw}/` };
}
