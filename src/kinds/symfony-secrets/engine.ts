/** The `symfony-secrets` engine, loaded on first use (libsodium): see index.ts. */
import type { KindEngine } from "../contract.js";
import { backupSymfonySecrets } from "./backup.js";
import { drillSymfonySecrets } from "./drill.js";
import type { SymfonySecretsFacts } from "./facts.js";
import type { SymfonySecretsJob } from "./job-schema.js";
import {
  applySymfonySecretsRestore,
  planSymfonySecretsRestore,
  type SymfonySecretsRestorePlan,
} from "./restore.js";
import type { SymfonySecretsRestoreOptions } from "./restore-options.js";
import type { SymfonySecretsTarget } from "./target.js";

export const symfonySecretsEngine: KindEngine<
  SymfonySecretsJob,
  SymfonySecretsTarget,
  SymfonySecretsFacts,
  SymfonySecretsRestoreOptions,
  SymfonySecretsRestorePlan
> = {
  backup: backupSymfonySecrets,
  drill: drillSymfonySecrets,
  planRestore: planSymfonySecretsRestore,
  applyRestore: applySymfonySecretsRestore,
};
