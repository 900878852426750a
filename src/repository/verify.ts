import { Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { layout, parseManifestKey } from "./layout.js";
import { lostManifestMessage, type Repository } from "./repository.js";
import type { SnapshotManifest } from "./manifest.js";

export interface VerifyProblem {
  job: string;
  snapshot: string;
  artifact?: string;
  problem: string;
  /** A refused manifest (forged or altered, see manifest-trust.ts), not damage to data. */
  refused?: true;
}

export interface VerifyReport {
  snapshots: number;
  artifacts: number;
  bytes: number;
  /**
   * Damage: a missing or altered artifact, an unreadable manifest, a deleted manifest (its copy
   * remains), a manifest that differs from its copy, a decryption failure; and refused manifests
   * (a bad signature, a contradicting structure, a date in the future).
   */
  problems: VerifyProblem[];
  /** Interrupted runs (artifacts with neither manifest nor manifest copy): warnings, not damage. */
  leftovers: Array<{ job: string; id: string; keys: number }>;
  /**
   * Not damage: committed snapshots without a manifest copy (written before backdrill kept
   * copies, or a run killed between the manifest and the copy). A deleted manifest of such a
   * snapshot would look like an interrupted run.
   */
  warnings: VerifyProblem[];
  /**
   * Manifests without a signature while signing is configured: never acted on, but not damage
   * (snapshots written before signing was set up look like this; so does a forgery).
   */
  unsigned: VerifyProblem[];
  /** Deleted manifests put back from their copies (`repair`). */
  repaired: Array<{ job: string; snapshot: string }>;
  readData: boolean;
}

export interface VerifyOptions {
  job?: string;
  /** Decrypt every artifact with these identities (catches a wrong recipient set, not just bit rot). */
  identities?: string[];
  signal?: AbortSignal;
  /**
   * Put deleted manifests back from their copies, after checking that the copy parses and that
   * every artifact it lists verifies. Only a missing manifest is restored, never one overwritten.
   */
  repair?: boolean;
  onSnapshot?: (manifest: SnapshotManifest) => void;
}

const sink = (): Writable =>
  new Writable({
    write(_chunk, _encoding, callback) {
      callback();
    },
  });

/**
 * Checks that every artifact of every committed snapshot is present with the recorded size and
 * sha256 (reading the ciphertext), and with identities, that it decrypts and authenticates; and
 * that every manifest is where it belongs: a manifest copy without its manifest is a deleted
 * manifest (damage), a manifest that differs from its copy is damage, a manifest without a copy
 * only a warning (see layout.ts).
 */
export async function verifyRepository(
  repository: Repository,
  options: VerifyOptions = {},
): Promise<VerifyReport> {
  let scan = await repository.scanData(options.job);
  const repaired: VerifyReport["repaired"] = [];
  const repairFailures = new Map<string, string>();
  if (options.repair === true) {
    for (const lost of scan.lost) {
      try {
        await repository.restoreManifestFromCopy(lost.job, lost.id, signalOption(options.signal));
        repaired.push({ job: lost.job, snapshot: lost.id });
      } catch (error) {
        repairFailures.set(`${lost.job}/${lost.id}`, error instanceof Error ? error.message : String(error));
      }
    }
    if (repaired.length > 0) scan = await repository.scanData(options.job);
  }
  const { snapshots, damaged, refused } = await repository.listSnapshots(options.job);
  const report: VerifyReport = {
    snapshots: snapshots.length,
    artifacts: 0,
    bytes: 0,
    problems: [],
    leftovers: scan.leftovers.map((left) => ({ job: left.job, id: left.id, keys: left.keys.length })),
    warnings: [],
    unsigned: [],
    repaired,
    readData: options.identities !== undefined,
  };
  for (const entry of damaged) {
    const parts = parseManifestKey(entry.key);
    const copy =
      parts !== null && scan.withCopy.has(`${parts.job}/${parts.id}`)
        ? ` (a copy is at ${layout.manifestCopy(parts.job, parts.id)}: compare them, and put the copy back if it is intact)`
        : "";
    report.problems.push({
      job: parts?.job ?? options.job ?? "?",
      snapshot: parts?.id ?? entry.key,
      problem: `${entry.problem}${copy}`,
    });
  }
  // Refused manifests (manifest-trust.ts) are named and nothing else: their artifacts are not
  // read, since nothing may act on them. Only a missing signature is a warning: a repository
  // that had snapshots before signing was set up keeps them, unsigned.
  for (const entry of refused) {
    (entry.reason === "unsigned" ? report.unsigned : report.problems).push({
      job: entry.job,
      snapshot: entry.id,
      problem: `${entry.problem}; refused (not verified, never drilled, restored or pruned)`,
      refused: true,
    });
  }
  for (const lost of scan.lost) {
    const failure = repairFailures.get(`${lost.job}/${lost.id}`);
    report.problems.push({
      job: lost.job,
      snapshot: lost.id,
      problem:
        lostManifestMessage(lost.job, lost.id) + (failure === undefined ? "" : `; repair failed: ${failure}`),
    });
  }
  for (const manifest of snapshots) {
    const copyKey = layout.manifestCopy(manifest.job, manifest.id);
    if (!scan.withCopy.has(`${manifest.job}/${manifest.id}`)) {
      report.warnings.push({
        job: manifest.job,
        snapshot: manifest.id,
        problem: `snapshot ${manifest.job}/${manifest.id} has no manifest copy at ${copyKey} (written before backdrill kept copies, or the run was killed between the two writes): not damage, but a deleted manifest of it would look like an interrupted run`,
      });
      continue;
    }
    try {
      const [original, copy] = await Promise.all([
        repository.readManifestText(manifest.job, manifest.id),
        repository.readManifestCopy(manifest.job, manifest.id),
      ]);
      if (copy !== null && copy !== original) {
        report.problems.push({
          job: manifest.job,
          snapshot: manifest.id,
          problem: `snapshot ${manifest.job}/${manifest.id}: manifest ${layout.manifest(manifest.job, manifest.id)} and its copy ${copyKey} differ: one of them was altered; compare them and keep the one whose artifacts verify`,
        });
      }
    } catch (error) {
      report.problems.push({
        job: manifest.job,
        snapshot: manifest.id,
        problem: `snapshot ${manifest.job}/${manifest.id}: cannot compare the manifest with its copy: ${error instanceof Error ? error.message : String(error)}`,
      });
    }
  }
  for (const manifest of snapshots) {
    options.onSnapshot?.(manifest);
    for (const record of manifest.artifacts) {
      report.artifacts += 1;
      try {
        const stream =
          options.identities === undefined
            ? await repository.openCiphertext(manifest, record, signalOption(options.signal))
            : await repository.openArtifact(
                manifest,
                record.name,
                options.identities,
                signalOption(options.signal),
              );
        await pipeline(stream, sink());
        report.bytes += record.size;
      } catch (error) {
        report.problems.push({
          job: manifest.job,
          snapshot: manifest.id,
          artifact: record.name,
          problem: error instanceof Error ? error.message : String(error),
        });
      }
    }
  }
  return report;
}

function signalOption(signal: AbortSignal | undefined): { signal?: AbortSignal } {
  return signal === undefined ? {} : { signal };
}
