/**
 * Backup of a symfony-secrets job: the vault directory plus its decryption key, escrowed.
 *
 * Before anything is stored, the key is proven against the vault: its public half must derive
 * from its secret half and equal `<env>.encrypt.public.php`, and it must open every secret listed
 * in `<env>.list.php`. Otherwise the job fails naming the secrets that fail; an escrow of a key
 * that does not open the vault would be worse than none, because it looks like a backup.
 *
 * The bundle (vault files + key) is encrypted to the job's escrow recipients inside this engine,
 * then handed to the runner, which encrypts it again to the policy's recipients (see bundle.ts).
 * Secret values are never decrypted into anything but a buffer that is zeroed straight away.
 */
import { readFile } from "node:fs/promises";
import { resolveSecret } from "../../secrets/resolve.js";
import { defaultDecryptionKeyFile, readEscrowRecipients } from "./config.js";
import type { SymfonySecretsJob } from "./job-schema.js";
import { inJob, OperationError, UsageError } from "../../errors.js";
import type { BackupContext, BackupOutcome } from "../contract.js";
import { ESCROW_ARTIFACT, encodeBundle, encryptBundle } from "./bundle.js";
import { FACTS_VERSION, type SymfonySecretsFacts } from "./facts.js";
import type { SymfonySecretsJobInput } from "./types.js";
import {
  decodeKeyFile,
  decodeKeyText,
  fileNames,
  inspectVault,
  readVaultDir,
  vaultProblems,
  wipe,
  type Keypair,
} from "./vault.js";

async function readKey(
  job: SymfonySecretsJobInput,
  env: NodeJS.ProcessEnv,
  jobFile: string,
): Promise<{ key: Keypair; source: "env" | "file" }> {
  if (job.decryptionKeyEnv !== undefined) {
    const value = await resolveSecret(
      { env: job.decryptionKeyEnv },
      { file: jobFile, path: "decryptionKeyEnv" },
      env,
    );
    return { key: decodeKeyText(value, `environment variable ${job.decryptionKeyEnv}`), source: "env" };
  }
  const file = job.decryptionKeyFile ?? defaultDecryptionKeyFile(job);
  let content: Buffer;
  try {
    content = await readFile(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new UsageError(
      code === "ENOENT"
        ? `decryption key file ${file} does not exist`
        : `cannot read decryption key file ${file}: ${(error as Error).message}`,
      { hint: "set decryptionKeyEnv (SYMFONY_DECRYPTION_SECRET's value) or decryptionKeyFile" },
    );
  }
  try {
    return { key: decodeKeyFile(content, file), source: "file" };
  } finally {
    content.fill(0);
  }
}

export async function backupSymfonySecrets(
  context: BackupContext<SymfonySecretsJobInput>,
): Promise<BackupOutcome<SymfonySecretsFacts>> {
  const { job, log, signal } = context;
  const environment = job.environment;
  let key: Keypair | undefined;
  let plaintext: Buffer | undefined;
  try {
    const escrowRecipients = await readEscrowRecipients({
      file: context.jobFile,
      job: { escrowRecipients: [], ...job } as SymfonySecretsJob,
    });
    const { files, skipped } = await readVaultDir(job.vault);
    if (skipped.length > 0)
      log.warn(
        { job: job.name, skipped },
        "symfony-secrets: entries of the vault directory that are not files are not escrowed",
      );
    const read = await readKey(job, context.env, context.jobFile);
    key = read.key;
    const report = await inspectVault(files, environment, key);
    const problems = vaultProblems(report);
    if (problems.length > 0) {
      throw new OperationError(
        `the decryption key does not restore vault ${job.vault}; nothing stored:\n${problems.join("\n")}`,
        {
          hint: "fix the vault or the key first: an escrow of a key that does not open every secret is no backup",
        },
      );
    }
    if (report.publicKeyMatches === undefined) {
      log.warn(
        { job: job.name },
        `symfony-secrets: ${fileNames.publicKey(environment)} is missing; the public key is derived from the key`,
      );
    }
    if (report.unlisted.length > 0) {
      log.warn(
        { job: job.name, unlisted: report.unlisted },
        `symfony-secrets: secret files not in ${fileNames.list(environment)} (Symfony does not load them); escrowed anyway`,
      );
    }
    signal.throwIfAborted();
    plaintext = encodeBundle({ environment, keySource: read.source, files, key });
    await context.snapshot.addArtifact(ESCROW_ARTIFACT, encryptBundle(plaintext, escrowRecipients), {
      signal,
    });
    log.info(
      {
        job: job.name,
        secrets: report.listed.length,
        escrowRecipients: escrowRecipients.length,
        fingerprint: report.fingerprint,
      },
      "symfony-secrets: vault and key escrowed",
    );
    const facts: SymfonySecretsFacts = {
      kind: "symfony-secrets",
      version: FACTS_VERSION,
      environment,
      artifact: ESCROW_ARTIFACT,
      secrets: report.listed,
      count: report.listed.length,
      publicKeyFingerprint: report.fingerprint,
      keySource: read.source,
      files: files.map((file) => file.name),
      unlisted: report.unlisted,
      escrowRecipients,
    };
    return {
      facts,
      meta: {
        format: "symfony-sodium-vault",
        escrowRecipients: escrowRecipients.length,
        keySource: read.source,
      },
    };
  } catch (error) {
    throw inJob(`job ${job.name}`, signal.aborted ? (signal.reason ?? error) : error);
  } finally {
    wipe(key?.bytes, plaintext);
  }
}
