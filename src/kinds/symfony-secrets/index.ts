/**
 * The `symfony-secrets` kind: the Symfony secrets vault and its decryption key, escrowed to the
 * job's escrow recipients inside the policy's encryption (backup.ts, bundle.ts); drilled in
 * memory with an escrow holder's identity (drill.ts); restored into a directory (restore.ts).
 */
import { defineKind } from "../contract.js";
import { describeSymfonySecretsJob, symfonySecretsSecrets } from "./config.js";
import { symfonySecretsFactsSchema } from "./facts.js";
import { symfonySecretsJobSchema } from "./job-schema.js";
import { symfonySecretsRestore } from "./restore-options.js";
import { symfonySecretsTarget } from "./target.js";

export const symfonySecretsKind = defineKind({
  kind: "symfony-secrets",
  summary: "a Symfony secrets vault and its decryption key, in a key escrow",
  jobSchema: symfonySecretsJobSchema,
  target: symfonySecretsTarget,
  factsSchema: symfonySecretsFactsSchema,
  restore: symfonySecretsRestore,
  describe: describeSymfonySecretsJob,
  secrets: symfonySecretsSecrets,
  checkPolicy: () => [],
  usesDocker: () => false,
  doctor: async (context, source) => (await import("./doctor.js")).symfonySecretsDoctor(context, source),
  drillDoctor: async (_context, target, source) =>
    (await import("./doctor.js")).symfonySecretsDrillDoctor(target, source, `drill target ${target.job}`),
  retention: null,
  archive: null,
  engine: async () => (await import("./engine.js")).symfonySecretsEngine,
});
