/**
 * The record stored beside each archived WAL file (`wal/<job>/<name>.sha256`): which job and
 * file it describes, the sha256 and size of the plaintext, and the backup host's signature over
 * all of that (repository/signed-record.ts). `wal fetch` checks the decrypted file against it,
 * so a file encrypted to the public recipient by someone else, or an archived file moved to
 * another name or job, is refused, not replayed into a database.
 *
 * Archives written before this format hold the plaintext sha256 as one hex line: read as an
 * unsigned record of the file it sits beside.
 *
 * A compressed file's record is format 2 and names its `compression`; sha256 and size stay those
 * of the file itself (uncompressed), so the size bounds decompression. Format 1 (no field) means
 * not compressed, and a backdrill from before compression refuses a format-2 record ("not a WAL
 * record this version understands") instead of handing PostgreSQL compressed bytes.
 */
import * as z from "zod";
import type { SigningKey } from "../../crypto/signing.js";
import { checkRecordSignature, signRecord } from "../../repository/signed-record.js";
import type { RepositoryTrust } from "../../repository/trust.js";
import { type Compression, readCompression } from "../../streams/compression.js";

/** Domain separation: a WAL record signature is never valid as a manifest's, nor the reverse. */
export const WAL_RECORD_CONTEXT = "backdrill-wal-record-v1";

/** Format 1: not compressed. Format 2: `compression` names how (wal-archive.ts writes 2 only then). */
const walRecordSchema = z.object({
  format: z.union([z.literal(1), z.literal(2)]),
  job: z.string(),
  /** The WAL file name (segment, history, backup label). */
  segment: z.string(),
  /** sha256 of the plaintext (uncompressed), hex. */
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  /** Plaintext bytes (uncompressed). */
  size: z.number().int().nonnegative(),
  /** Checked by `parseWalRecord` (readCompression), so an unknown value is named. */
  compression: z.string().optional(),
});
export type WalRecord = z.infer<typeof walRecordSchema>;

/** The record of a file of `size` bytes with `sha256`, stored with `compression`. */
export function walRecordFor(
  where: { job: string; segment: string },
  digest: { sha256: string; size: number },
  compression: Compression,
): WalRecord {
  const base = { job: where.job, segment: where.segment, sha256: digest.sha256, size: digest.size };
  return compression === "none" ? { format: 1, ...base } : { format: 2, ...base, compression };
}

export type StoredWalRecord =
  | { form: "record"; record: WalRecord; json: Record<string, unknown> }
  | { form: "legacy"; sha256: string }
  | { form: "damaged"; problem: string };

/** The bytes stored for `record`: signed with `key` when the host has one. */
export function renderWalRecord(record: WalRecord, key: SigningKey | undefined): Buffer {
  return Buffer.from(JSON.stringify(signRecord(WAL_RECORD_CONTEXT, record, key)) + "\n");
}

/** Parses a stored record (untrusted text). */
export function parseWalRecord(text: string): StoredWalRecord {
  const trimmed = text.trim();
  if (/^[0-9a-f]{64}$/.test(trimmed)) return { form: "legacy", sha256: trimmed };
  let json: unknown;
  try {
    json = JSON.parse(trimmed);
  } catch {
    return { form: "damaged", problem: "it is neither a record nor a digest" };
  }
  const parsed = walRecordSchema.safeParse(json);
  if (!parsed.success || json === null || typeof json !== "object") {
    const format = (json as { format?: unknown } | null)?.format;
    if (typeof format === "number" && format > 2)
      return { form: "damaged", problem: `its record has format ${format}: upgrade backdrill to read it` };
    return { form: "damaged", problem: "it is not a WAL record this version understands" };
  }
  const compression = readCompression(parsed.data.compression);
  if (!compression.ok) return { form: "damaged", problem: `its record: ${compression.problem}` };
  if ((parsed.data.format === 2) !== (compression.compression !== "none")) {
    return {
      form: "damaged",
      problem: `its record is format ${parsed.data.format} with compression ${compression.compression} (format 2 is for compressed files only)`,
    };
  }
  return { form: "record", record: parsed.data, json: json as Record<string, unknown> };
}

/** How the file a stored record describes was compressed (none for a legacy digest). */
export function recordedCompression(stored: StoredWalRecord): Compression {
  if (stored.form !== "record") return "none";
  const compression = readCompression(stored.record.compression);
  // parseWalRecord refused anything else.
  return compression.ok ? compression.compression : "none";
}

/** The plaintext sha256 (and size) a stored record lets this reader trust, or why not. */
export function trustedWalDigest(
  stored: StoredWalRecord,
  where: { job: string; segment: string },
  trust: RepositoryTrust,
):
  | { ok: true; sha256: string; size: number | null; compression: Compression; unsigned: boolean }
  | { ok: false; problem: string } {
  if (stored.form === "damaged") return { ok: false, problem: stored.problem };
  if (stored.form === "legacy") {
    if (trust.publicKeys !== null && !trust.allowUnsigned) {
      return {
        ok: false,
        problem:
          "its record is an unsigned digest (archived before signing was set up), and signing is configured",
      };
    }
    return { ok: true, sha256: stored.sha256, size: null, compression: "none", unsigned: true };
  }
  const signature = checkRecordSignature(WAL_RECORD_CONTEXT, stored.json, trust);
  if (!signature.ok) return { ok: false, problem: `its record: ${signature.problem}` };
  if (stored.record.job !== where.job || stored.record.segment !== where.segment) {
    return {
      ok: false,
      problem: `its record describes ${stored.record.job}/${stored.record.segment}, not the file it sits beside`,
    };
  }
  return {
    ok: true,
    sha256: stored.record.sha256,
    size: stored.record.size,
    compression: recordedCompression(stored),
    unsigned: signature.unsigned,
  };
}
