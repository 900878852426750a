/** What `validate` and the config loader ask of a `symfony-secrets` job. */
import { join } from "node:path";
import { readRecipientList, secretField } from "../../secrets/resolve.js";
import type { JobSource, RecipientListRef, SecretSpec } from "../contract.js";
import type { SymfonySecretsJob } from "./job-schema.js";

/** Default Symfony decryption key location when neither decryptionKeyEnv nor decryptionKeyFile is set. */
export function defaultDecryptionKeyFile(job: { vault: string; environment: string }): string {
  return join(job.vault, `${job.environment}.decrypt.private.php`);
}

function escrowList(job: SymfonySecretsJob): RecipientListRef {
  return {
    inline: job.escrowRecipients,
    file: job.escrowRecipientsFile,
    listPath: "escrowRecipients",
    filePath: "escrowRecipientsFile",
  };
}

/** The job's escrow recipients (escrowRecipients + escrowRecipientsFile), validated. */
export async function readEscrowRecipients({ file, job }: JobSource<SymfonySecretsJob>): Promise<string[]> {
  const list = escrowList(job);
  return readRecipientList(list.inline, list.file, {
    file,
    listPath: list.listPath,
    filePath: list.filePath,
  });
}

/** "2 escrow recipients", "escrow recipients from FILE", "1 escrow recipient + FILE". */
function describeRecipients(inline: readonly string[], file: string | undefined): string {
  const noun = "escrow recipient";
  if (inline.length === 0) return file === undefined ? `no ${noun}s` : `${noun}s from ${file}`;
  const count = `${inline.length} ${noun}${inline.length === 1 ? "" : "s"}`;
  return file === undefined ? count : `${count} + ${file}`;
}

export function describeSymfonySecretsJob(job: SymfonySecretsJob): string {
  return `${job.vault} (env ${job.environment}); ${describeRecipients(job.escrowRecipients, job.escrowRecipientsFile)}`;
}

export function symfonySecretsSecrets(source: JobSource<SymfonySecretsJob>): SecretSpec {
  const { file, job } = source;
  const field = secretField(job, "decryptionKey", { file, path: "" });
  return {
    secrets:
      field !== undefined
        ? [field]
        : [
            {
              where: { file, path: "vault" },
              ref: { file: defaultDecryptionKeyFile(job) },
              readableOnly: true,
            },
          ],
    recipients: [escrowList(job)],
  };
}
