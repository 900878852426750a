/**
 * Signatures on records stored in the repository (manifests, WAL records): the record as JSON
 * with its detached signature in a `signature` field, over the canonical JSON of every other
 * field (crypto/signing.ts), under a context naming the kind of record. Judged against what the
 * reader trusts (trust.ts).
 */
import { signValue, verifyValue, type SigningKey } from "../crypto/signing.js";
import type { RepositoryTrust } from "./trust.js";

/** The field of a stored record that holds its detached signature. */
export const SIGNATURE_FIELD = "signature";

export type RecordSignatureCheck =
  | {
      ok: true;
      /** The key that signed it; null when signatures are not checked or it was allowed unsigned. */
      signedBy: string | null;
      /** It carries no signature (allowed, or not checked). */
      unsigned: boolean;
    }
  | { ok: false; unsigned: boolean; problem: string };

/** `value` with its signature (none without a key), as stored. */
export function signRecord(context: string, value: object, key: SigningKey | undefined): object {
  return key === undefined ? value : { ...value, [SIGNATURE_FIELD]: signValue(context, value, key) };
}

/** Judges the signature of a record as read (`json`: the whole parsed object, untrusted). */
export function checkRecordSignature(
  context: string,
  json: Record<string, unknown>,
  trust: RepositoryTrust,
): RecordSignatureCheck {
  const { [SIGNATURE_FIELD]: signature, ...signed } = json;
  if (trust.publicKeys === null) return { ok: true, signedBy: null, unsigned: signature === undefined };
  if (signature === undefined) {
    return trust.allowUnsigned
      ? { ok: true, signedBy: null, unsigned: true }
      : { ok: false, unsigned: true, problem: "it is not signed, and signing is configured" };
  }
  const check = verifyValue(context, signed, signature, trust.publicKeys);
  return check.ok
    ? { ok: true, signedBy: check.publicKey, unsigned: false }
    : { ok: false, unsigned: false, problem: check.problem };
}
