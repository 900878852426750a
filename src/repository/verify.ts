import { Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { Repository } from "./repository.js";
import type { SnapshotManifest } from "./manifest.js";

export interface VerifyProblem {
  job: string;
  snapshot: string;
  artifact?: string;
  problem: string;
}

export interface VerifyReport {
  snapshots: number;
  artifacts: number;
  bytes: number;
  /** Damage: a missing or altered artifact, an unreadable manifest, a decryption failure. */
  problems: VerifyProblem[];
  /** Interrupted runs (artifacts without manifest): warnings, not damage. */
  leftovers: Array<{ job: string; id: string; keys: number }>;
  readData: boolean;
}

export interface VerifyOptions {
  job?: string;
  /** Decrypt every artifact with these identities (catches a wrong recipient set, not just bit rot). */
  identities?: string[];
  signal?: AbortSignal;
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
 * sha256 (reading the ciphertext), and with identities, that it decrypts and authenticates.
 */
export async function verifyRepository(
  repository: Repository,
  options: VerifyOptions = {},
): Promise<VerifyReport> {
  const { snapshots, damaged } = await repository.listSnapshots(options.job);
  const report: VerifyReport = {
    snapshots: snapshots.length,
    artifacts: 0,
    bytes: 0,
    problems: damaged.map((entry) => ({
      job: options.job ?? "?",
      snapshot: entry.key,
      problem: entry.problem,
    })),
    leftovers: (await repository.leftovers(options.job)).map((left) => ({
      job: left.job,
      id: left.id,
      keys: left.keys.length,
    })),
    readData: options.identities !== undefined,
  };
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
