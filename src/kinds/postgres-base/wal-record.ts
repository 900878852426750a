/**
 * The record stored beside each archived WAL file (`wal/<job>/<name>.sha256`): which job and
 * file it describes, the sha256 and size of the plaintext, and the backup host's signature over
 * all of that (repository/signed-record.ts). `wal fetch` checks the decrypted file against it,
 * so a file encrypted to the public recipient by someone else, or an archived file moved to
 * another name or job, is refused, not replayed into a database.
 *
 * Archives written before this format hold the plaintext sha256 as one hex line: read as an
 * unsigned record of the file it sits beside.
 */
import * as z from "zod";
import type { SigningKey } from "../../crypto/signing.js";
import { checkRecordSignature, signRecord } from "../../repository/signed-record.js";
import type { RepositoryTrust } from "../../repository/trust.js";

/** Domain separation: a WAL record signature is never valid as a manifest's, nor the reverse. */
export const WAL_RECORD_CONTEXT = "backdrill-wal-record-v1";

const walRecordSchema = z.object({
  format: z.literal(1),
  job: z.string(),
  /** The WAL file name (segment, history, backup label). */
  segment: z.string(),
  /** sha256 of the plaintext, hex. */
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  /** Plaintext bytes. */
  size: z.number().int().nonnegative(),
});
export type WalRecord = z.infer<typeof walRecordSchema>;

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
    return { form: "damaged", problem: "it is not a WAL record this version understands" };
  }
  return { form: "record", record: parsed.data, json: json as Record<string, unknown> };
}

/** The plaintext sha256 (and size) a stored record lets this reader trust, or why not. */
export function trustedWalDigest(
  stored: StoredWalRecord,
  where: { job: string; segment: string },
  trust: RepositoryTrust,
): { ok: true; sha256: string; size: number | null; unsigned: boolean } | { ok: false; problem: string } {
  if (stored.form === "damaged") return { ok: false, problem: stored.problem };
  if (stored.form === "legacy") {
    if (trust.publicKeys !== null && !trust.allowUnsigned) {
      return {
        ok: false,
        problem:
          "its record is an unsigned digest (archived before signing was set up), and signing is configured",
      };
    }
    return { ok: true, sha256: stored.sha256, size: null, unsigned: true };
  }
  const signature = checkRecordSignature(WAL_RECORD_CONTEXT, stored.json, trust);
  if (!signature.ok) return { ok: false, problem: `its record: ${signature.problem}` };
  if (stored.record.job !== where.job || stored.record.segment !== where.segment) {
    return {
      ok: false,
      problem: `its record describes ${stored.record.job}/${stored.record.segment}, not the file it sits beside`,
    };
  }
  return { ok: true, sha256: stored.record.sha256, size: stored.record.size, unsigned: signature.unsigned };
}
