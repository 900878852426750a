/**
 * Drill history kept in the repository (layout.ts: `history/<job>/drills/<stamp>-<drill>.json`),
 * so that every host with the config sees the same drill history, not only the drill host.
 *
 * A record is a small JSON envelope: what it is (job, drill, start time) in clear, the drill
 * report's part for that job age-encrypted to the policy's recipients (reports name databases,
 * tables and check messages), and, when this host signs, a signature over all of it (the same
 * signed-record scheme as manifests, under its own context so that neither passes as the other).
 *
 * Reading: the repository is untrusted. Each record is capped in size, parsed with a zod schema,
 * its signature judged against the reader's trust (refused: bad signature, or unsigned while
 * signing is configured), its clear fields checked against its key (a record copied under another
 * name is refused), then decrypted. Its plaintext is returned as `unknown`: the caller validates
 * the report itself (history/drill-reports.ts). Nothing here throws for one bad record; every
 * problem is returned naming the key.
 */
import { Readable } from "node:stream";
import { buffer } from "node:stream/consumers";
import { z } from "zod";
import { decryptBuffer, encryptBuffer } from "../crypto/buffer.js";
import type { SigningKey } from "../crypto/signing.js";
import { NAME_PATTERN } from "../schema/common.js";
import { layout, parseDrillHistoryKey } from "./layout.js";
import type { Repository } from "./repository.js";
import { checkRecordSignature, signRecord } from "./signed-record.js";

/** Domain separation from manifests and WAL records. */
export const DRILL_RECORD_SIGNATURE_CONTEXT = "backdrill-drill-record-v1";
export const DRILL_RECORD_FORMAT = "backdrill-drill-record-v1";
/** A record larger than this is not read (a drill report for one job is a few KiB). */
export const MAX_DRILL_RECORD_BYTES = 1024 * 1024;
/** Only the newest this many records per job are read (years of daily drills). */
export const MAX_DRILL_RECORDS_PER_JOB = 2000;

const envelopeSchema = z.object({
  format: z.literal(DRILL_RECORD_FORMAT),
  job: z.string().regex(NAME_PATTERN),
  drill: z.string().regex(NAME_PATTERN),
  startedAt: z.string().regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/),
  /** base64 of the age file. */
  ciphertext: z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/),
});

/** `20261128T040000Z` of an ISO time: sortable, the same stamp as the local report files. */
export function historyStamp(at: string): string {
  return new Date(at)
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d{3}Z$/, "Z");
}

export interface DrillRecordInput {
  job: string;
  drill: string;
  startedAt: string;
  /** The report part for this job (JSON-serialisable, already redacted). */
  report: unknown;
}

/**
 * Writes one job's record of a drill run: encrypted to `recipients`, signed with the repository's
 * signer when it has one. Replaces a record of the same run (a re-written report is the same run).
 * Returns the key.
 */
export async function writeDrillRecord(
  repository: Repository,
  recipients: readonly string[],
  input: DrillRecordInput,
): Promise<string> {
  const ciphertext = await encryptBuffer(JSON.stringify(input.report), recipients);
  const envelope = {
    format: DRILL_RECORD_FORMAT,
    job: input.job,
    drill: input.drill,
    startedAt: input.startedAt,
    ciphertext: ciphertext.toString("base64"),
  };
  const body = Buffer.from(
    JSON.stringify(signRecord(DRILL_RECORD_SIGNATURE_CONTEXT, envelope, repository.signer), null, 2) + "\n",
  );
  const key = layout.drillRecord(input.job, historyStamp(input.startedAt), input.drill);
  await repository.backend.put(key, Readable.from([body]), { overwrite: true, contentLength: body.length });
  return key;
}

/** Test and tooling seam: the envelope as `writeDrillRecord` would store it, signed with `key`. */
export function signDrillEnvelope(envelope: object, key: SigningKey | undefined): object {
  return signRecord(DRILL_RECORD_SIGNATURE_CONTEXT, envelope, key);
}

export interface DrillRecord {
  /** The record's key in the repository. */
  key: string;
  job: string;
  drill: string;
  startedAt: string;
  /** The decrypted report part, NOT validated: the caller parses it. */
  report: unknown;
}

export interface DrillRecordListing {
  /** Oldest first. */
  records: DrillRecord[];
  /** Records not used, one line each naming the key and why (forged, unsigned, too big, ...). */
  refused: string[];
  /** Records present but not decryptable here because this host holds no identity. */
  skippedNoIdentity: number;
}

/**
 * Every drill record of `job` in the repository, judged as described at the top. `identities`:
 * the age identities this host holds; none means the records are counted, not read.
 */
export async function readDrillRecords(
  repository: Repository,
  job: string,
  identities: readonly string[],
): Promise<DrillRecordListing> {
  const listing: DrillRecordListing = { records: [], refused: [], skippedNoIdentity: 0 };
  const found: Array<{ key: string; size: number; stamp: string; drill: string }> = [];
  for await (const info of repository.backend.list(layout.drillHistoryPrefix(job))) {
    const parts = parseDrillHistoryKey(info.key);
    if (parts === null || parts.job !== job) {
      listing.refused.push(`drill history ${info.key}: not a drill record name; ignored`);
      continue;
    }
    found.push({ key: info.key, size: info.size, stamp: parts.stamp, drill: parts.drill });
  }
  found.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  if (found.length > MAX_DRILL_RECORDS_PER_JOB) {
    listing.refused.push(
      `drill history of ${job}: ${found.length} records, only the newest ${MAX_DRILL_RECORDS_PER_JOB} are read`,
    );
    found.splice(0, found.length - MAX_DRILL_RECORDS_PER_JOB);
  }
  if (identities.length === 0) {
    listing.skippedNoIdentity = found.length;
    return listing;
  }
  for (const entry of found) {
    const refuse = (why: string): void => {
      listing.refused.push(`drill history ${entry.key}: ${why}; not used`);
    };
    if (entry.size > MAX_DRILL_RECORD_BYTES) {
      refuse(`${entry.size} bytes, larger than ${MAX_DRILL_RECORD_BYTES}`);
      continue;
    }
    let raw: Buffer;
    try {
      raw = await buffer(await repository.backend.get(entry.key));
    } catch (error) {
      refuse(`cannot read it: ${error instanceof Error ? error.message : String(error)}`);
      continue;
    }
    // The listing's size may be stale, or the store may lie: the cap holds on what was read.
    if (raw.length > MAX_DRILL_RECORD_BYTES) {
      refuse(`larger than ${MAX_DRILL_RECORD_BYTES} bytes`);
      continue;
    }
    let json: unknown;
    try {
      json = JSON.parse(raw.toString("utf8"));
    } catch {
      refuse("not valid JSON");
      continue;
    }
    const parsed = envelopeSchema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      refuse(`not a drill record (${issue?.path.join(".") || "(root)"}: ${issue?.message ?? "invalid"})`);
      continue;
    }
    const signature = checkRecordSignature(
      DRILL_RECORD_SIGNATURE_CONTEXT,
      json as Record<string, unknown>,
      repository.trust,
    );
    if (!signature.ok) {
      refuse(
        signature.unsigned
          ? "it is not signed, and signing is configured (written before signing was set up, or forged)"
          : signature.problem,
      );
      continue;
    }
    const envelope = parsed.data;
    if (
      envelope.job !== job ||
      envelope.drill !== entry.drill ||
      historyStamp(envelope.startedAt) !== entry.stamp
    ) {
      refuse(
        `it describes drill ${envelope.drill} of ${envelope.job} started ${envelope.startedAt}, not what its name says`,
      );
      continue;
    }
    let plaintext: Buffer;
    try {
      plaintext = await decryptBuffer(Buffer.from(envelope.ciphertext, "base64"), identities);
    } catch (error) {
      refuse(
        `does not decrypt with this host's identities (${error instanceof Error ? error.message : String(error)})`,
      );
      continue;
    }
    let report: unknown;
    try {
      report = JSON.parse(plaintext.toString("utf8"));
    } catch {
      refuse("its report is not valid JSON");
      continue;
    }
    listing.records.push({
      key: entry.key,
      job: envelope.job,
      drill: envelope.drill,
      startedAt: envelope.startedAt,
      report,
    });
  }
  return listing;
}
