/**
 * Whether a manifest read from the repository may be acted on. Everything in a repository is
 * untrusted (anyone with write access can put any object there), so every reader judges each
 * manifest the same way before it uses it:
 *
 *   damaged    not JSON, or not a manifest (or of a newer format): unreadable.
 *   refused    parseable, but not something to act on:
 *                signature  signing is configured and the signature is malformed, by a key the
 *                           reader does not trust, or does not match the content;
 *                unsigned   signing is configured and the manifest carries no signature
 *                           (written before signing was set up, or forged);
 *                structure  it contradicts where it is stored or itself: its job or id is not
 *                           the ones its key names, its id is not a snapshot id or not the time
 *                           of its createdAt, an artifact's path is not
 *                           `layout.artifact(job, id, name)` (a forged manifest pointing at
 *                           another snapshot's genuine ciphertext), a name is listed twice, or an
 *                           artifact's compression is unknown, in a format-1 manifest, or
 *                           without the plain size that bounds its decompression;
 *                future     its id or times lie beyond the clock-skew allowance: never "latest",
 *                           never counted by retention (see `listSnapshots`).
 *   trusted    act on it. `future` is set for a trusted manifest dated ahead of the clock: a
 *              listing refuses it (reason future), an explicit `--snapshot ID` may still use it.
 *
 * Structural checks apply with and without signing; the signature covers every field a reader
 * acts on, because it covers the whole manifest (canonical JSON of everything but the signature).
 */
import type { SigningKey } from "../crypto/signing.js";
import { layout } from "./layout.js";
import { readCompression } from "../streams/compression.js";
import {
  ARTIFACT_NAME,
  MANIFEST_FORMAT,
  MANIFEST_FORMAT_NEWEST,
  manifestSchema,
  type SnapshotManifest,
} from "./manifest.js";
import { isSnapshotId, snapshotIdTime } from "./snapshot-id.js";
import { checkRecordSignature, signRecord } from "./signed-record.js";
import { isFuture, type RepositoryTrust } from "./trust.js";

/** Domain separation: a manifest signature is never valid as any other record's. */
export const MANIFEST_SIGNATURE_CONTEXT = "backdrill-manifest-v1";

export type RefusalReason = "signature" | "unsigned" | "structure" | "future";

export type ManifestAssessment =
  | { status: "damaged"; problem: string }
  | {
      status: "refused";
      reason: RefusalReason;
      /** One line naming the snapshot and what is wrong with it. */
      problem: string;
      /** As parsed: NOT to be acted on; for naming it in reports only. */
      manifest: SnapshotManifest;
    }
  | {
      status: "trusted";
      manifest: SnapshotManifest;
      /** The key that signed it; null when signing is not configured or it was allowed unsigned. */
      signedBy: string | null;
      /** Trusted, but dated ahead of the reader's clock (see the file comment). */
      future: boolean;
      /** Accepted without a signature under `allowUnsigned`. */
      unsigned: boolean;
    };

/** The text a signed manifest is stored as: the manifest with its signature, pretty-printed. */
export function renderManifest(manifest: SnapshotManifest, key: SigningKey | undefined): string {
  return JSON.stringify(signRecord(MANIFEST_SIGNATURE_CONTEXT, manifest, key), null, 2) + "\n";
}

/**
 * Judges a manifest's stored text. `key` names it in messages; `expected` is the job and id its
 * location says it is (null: take them from the manifest, for a text with no location).
 */
export function assessManifest(
  raw: string,
  key: string,
  expected: { job: string; id: string } | null,
  trust: RepositoryTrust,
): ManifestAssessment {
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    return { status: "damaged", problem: `manifest ${key} is not valid JSON` };
  }
  const format = (json as { format?: unknown } | null)?.format;
  if (typeof format === "number" && format > MANIFEST_FORMAT_NEWEST) {
    return {
      status: "damaged",
      problem: `manifest ${key} has format ${format}, newer than this backdrill reads (up to ${MANIFEST_FORMAT_NEWEST}): upgrade backdrill to use this snapshot`,
    };
  }
  const parsed = manifestSchema.safeParse(json);
  if (!parsed.success) {
    return {
      status: "damaged",
      problem: `manifest ${key} is malformed: ${parsed.error.issues[0]?.message ?? "not a manifest"}`,
    };
  }
  const manifest = parsed.data;
  const name = expected ?? { job: manifest.job, id: manifest.id };
  const refuse = (reason: RefusalReason, why: string): ManifestAssessment => ({
    status: "refused",
    reason,
    problem: `snapshot ${name.job}/${name.id}: ${why}`,
    manifest,
  });

  const signature = checkRecordSignature(MANIFEST_SIGNATURE_CONTEXT, json as Record<string, unknown>, trust);
  if (!signature.ok) {
    return signature.unsigned
      ? refuse(
          "unsigned",
          `manifest ${key} is not signed, and signing is configured (written before signing was set up, or forged)`,
        )
      : refuse("signature", `manifest ${key}: ${signature.problem}`);
  }
  const unsigned = trust.publicKeys !== null && signature.unsigned;
  const signedBy = signature.signedBy;

  const structure = structureProblem(manifest, key, expected);
  if (structure !== null) return refuse("structure", structure);

  const times = [
    snapshotIdTime(manifest.id).getTime(),
    Date.parse(manifest.createdAt),
    Date.parse(manifest.finishedAt),
  ];
  return {
    status: "trusted",
    manifest,
    signedBy,
    unsigned,
    future: times.some((time) => isFuture(trust, time)),
  };
}

/** What contradicts the manifest's location or itself, or null. */
function structureProblem(
  manifest: SnapshotManifest,
  key: string,
  expected: { job: string; id: string } | null,
): string | null {
  if (expected !== null && (expected.job !== manifest.job || expected.id !== manifest.id)) {
    return `manifest ${key} describes ${manifest.job}/${manifest.id}, not the snapshot its location names`;
  }
  if (!isSnapshotId(manifest.id))
    return `manifest ${key}: id ${JSON.stringify(manifest.id)} is not a snapshot id`;
  const created = Date.parse(manifest.createdAt);
  const finished = Date.parse(manifest.finishedAt);
  if (!isIsoTime(manifest.createdAt) || Number.isNaN(created))
    return `manifest ${key}: createdAt is not a time`;
  if (!isIsoTime(manifest.finishedAt) || Number.isNaN(finished))
    return `manifest ${key}: finishedAt is not a time`;
  if (Math.floor(created / 1000) * 1000 !== snapshotIdTime(manifest.id).getTime()) {
    return `manifest ${key}: createdAt ${manifest.createdAt} is not the time its id ${manifest.id} names`;
  }
  if (finished < created) return `manifest ${key}: finishedAt lies before createdAt`;
  const names = new Set<string>();
  for (const record of manifest.artifacts) {
    if (!ARTIFACT_NAME.test(record.name)) {
      return `manifest ${key}: artifact name ${JSON.stringify(record.name)} is not valid`;
    }
    if (names.has(record.name)) return `manifest ${key}: artifact ${record.name} is listed twice`;
    names.add(record.name);
    const path = layout.artifact(manifest.job, manifest.id, record.name);
    if (record.path !== path) {
      return `manifest ${key}: artifact ${record.name} points at ${JSON.stringify(record.path)} instead of ${path} (another snapshot's data?)`;
    }
    const compression = readCompression(record.compression);
    if (!compression.ok) return `manifest ${key}: artifact ${record.name}: ${compression.problem}`;
    if (compression.compression !== "none") {
      // An older backdrill must never see a compressed artifact in a manifest it reads (manifest.ts).
      if (manifest.format === MANIFEST_FORMAT)
        return `manifest ${key}: artifact ${record.name} is compressed in a format ${MANIFEST_FORMAT} manifest`;
      // The size is the decompression bound: without it, a reader could be made to write forever.
      if (record.plainSize === undefined)
        return `manifest ${key}: artifact ${record.name} is compressed but its plain size is not recorded`;
    }
  }
  return null;
}

/** `2026-11-28T02:15:00.000Z` (what backdrill writes); rejects the many other forms Date.parse takes. */
function isIsoTime(value: string): boolean {
  return /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/.test(value);
}
