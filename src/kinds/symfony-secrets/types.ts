/** The parts of the job and drill target this engine reads, and the facts it records. */
import type { DrillTarget } from "../../config/drill-schema.js";
import type { SymfonySecretsJob } from "./job-schema.js";
import { OperationError } from "../../errors.js";

export type SymfonySecretsJobInput = Pick<SymfonySecretsJob, "name" | "kind" | "vault" | "environment"> &
  Partial<
    Pick<
      SymfonySecretsJob,
      "decryptionKeyEnv" | "decryptionKeyFile" | "escrowRecipients" | "escrowRecipientsFile"
    >
  >;

export type SymfonySecretsDrillTargetInput = Pick<DrillTarget, "job" | "checks" | "escrowIdentityFile">;

export const FACTS_VERSION = 1;

export interface SymfonySecretsFacts {
  kind: "symfony-secrets";
  version: number;
  environment: string;
  artifact: string;
  /** Secret names (never values), natural order. */
  secrets: string[];
  count: number;
  /** sha256:<hex> of the public key. */
  publicKeyFingerprint: string;
  keySource: "env" | "file";
  /** Every file of the vault directory that is in the escrow. */
  files: string[];
  /** Secret files not in the list (kept in the escrow, reported). */
  unlisted: string[];
  /** The escrow's recipients (public keys). */
  escrowRecipients: string[];
}

export function parseFacts(raw: Record<string, unknown>, where: string): SymfonySecretsFacts {
  if (raw.kind !== "symfony-secrets" || typeof raw.artifact !== "string" || !Array.isArray(raw.secrets)) {
    throw new OperationError(`${where}: the snapshot's facts are not those of a symfony-secrets backup`);
  }
  return raw as unknown as SymfonySecretsFacts;
}
