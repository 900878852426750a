/**
 * The `symfony-secrets` engine: the vault plus its decryption key, escrowed to separate
 * recipients; drilled by opening the escrow and every secret; restored into a directory.
 */
import type { DrillTarget } from "../../config/drill-schema.js";
import type { SymfonySecretsJob } from "./job-schema.js";
import type { Engine } from "../engine.js";
import { backupSymfonySecrets } from "./backup.js";
import { drillSymfonySecrets } from "./drill.js";
import { planSymfonySecretsRestore, restoreSymfonySecrets } from "./restore.js";

export const symfonySecretsEngine: Engine<SymfonySecretsJob, DrillTarget> = {
  kind: "symfony-secrets",
  backup: backupSymfonySecrets,
  drill: drillSymfonySecrets,
  planRestore: planSymfonySecretsRestore,
  restore: restoreSymfonySecrets,
};
