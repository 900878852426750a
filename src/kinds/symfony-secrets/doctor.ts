/**
 * Doctor checks of a `symfony-secrets` job: the vault is readable, the decryption key belongs to
 * it (its public half is compared with the vault's; no secret is opened), and the escrow
 * recipients are valid. No value read here is ever part of a result.
 */
import { access, readFile } from "node:fs/promises";
import path from "node:path";
import type { SymfonySecretsJob } from "./job-schema.js";
import { readableDir, uid } from "../../preflight/fs-checks.js";
import { fail, ok, warn, type CheckSpec } from "../../preflight/runner.js";
import { identityToRecipient, readIdentityFile } from "../../crypto/keys.js";
import { resolveSecret, secretField } from "../../secrets/resolve.js";
import type { JobSource, KindDoctorContext } from "../contract.js";
import { defaultDecryptionKeyFile, readEscrowRecipients } from "./config.js";
import { parsePhpListFile, parsePhpStringFile } from "./php.js";
import type { SymfonySecretsTarget } from "./target.js";
import {
  decodeKeyFile,
  decodeKeyText,
  fileNames,
  fingerprintOf,
  publicKeyOf,
  wipe,
  type Keypair,
} from "./vault.js";

/** The job's Symfony key, from env, file or the vault's default file; the caller wipes it. */
async function loadKey(
  context: KindDoctorContext,
  { file, job }: JobSource<SymfonySecretsJob>,
): Promise<{ key: Keypair; source: string }> {
  const field = secretField(job, "decryptionKey", { file, path: "" });
  if (field?.ref.env !== undefined) {
    const value = await resolveSecret(field.ref, field.where, context.env);
    return { key: decodeKeyText(value, `${field.ref.env}`), source: `env ${field.ref.env}` };
  }
  const keyFile = field?.ref.file ?? defaultDecryptionKeyFile(job);
  let content: Buffer;
  try {
    content = await readFile(keyFile);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new Error(
      code === "ENOENT" ? `${keyFile} does not exist` : `cannot read ${keyFile}${uid()}: ${code ?? "error"}`,
    );
  }
  try {
    return { key: decodeKeyFile(content, keyFile), source: keyFile };
  } finally {
    content.fill(0);
  }
}

export function symfonySecretsDoctor(
  context: KindDoctorContext,
  source: JobSource<SymfonySecretsJob>,
): CheckSpec[] {
  const { job } = source;
  const subject = `job ${job.name}`;
  const listFile = path.join(job.vault, fileNames.list(job.environment));
  return [
    {
      subject,
      name: "vault",
      run: async () => {
        const dir = await readableDir(job.vault, "vault");
        if (dir.status !== "ok") return dir;
        let names: string[];
        try {
          // Names only (array keys); values live in other files and are not read.
          names = parsePhpListFile(await readFile(listFile));
        } catch (error) {
          // `secrets:generate-keys` writes the keys but no list.php until the first `secrets:set`.
          const keysOnly =
            (error as NodeJS.ErrnoException).code === "ENOENT" &&
            (await access(path.join(job.vault, fileNames.publicKey(job.environment))).then(
              () => true,
              () => false,
            ));
          if (keysOnly) return ok(`${job.vault}: no secret set yet (no ${path.basename(listFile)})`);
          return fail(
            `${listFile}: ${(error as NodeJS.ErrnoException).code === "ENOENT" ? "missing" : (error as Error).message}`,
            `is ${job.vault} a Symfony vault of environment ${job.environment}? (set environment: in the job if the directory is named otherwise)`,
          );
        }
        return ok(`${job.vault}: ${names.length} secret(s) listed`);
      },
    },
    {
      subject,
      name: "decryption key",
      run: async () => {
        const { key, source: keySource } = await loadKey(context, source);
        try {
          const publicKey = publicKeyOf(key);
          const publicFile = path.join(job.vault, fileNames.publicKey(job.environment));
          let stored: Buffer;
          try {
            stored = parsePhpStringFile(await readFile(publicFile));
          } catch {
            return warn(
              `key from ${keySource} is a 64-byte keypair; ${publicFile} is missing, so it cannot be matched to the vault`,
            );
          }
          if (!stored.equals(Buffer.from(publicKey))) {
            return fail(
              `key from ${keySource} (${fingerprintOf(publicKey)}) does not belong to this vault (its public key is ${fingerprintOf(stored)})`,
              "the key opens another vault: find the right SYMFONY_DECRYPTION_SECRET / decrypt.private.php",
            );
          }
          return ok(`key from ${keySource} matches the vault's public key (${fingerprintOf(publicKey)})`);
        } finally {
          wipe(key.bytes);
        }
      },
    },
    {
      subject,
      name: "escrow recipients",
      run: async () => {
        const recipients = await readEscrowRecipients(source);
        return ok(`${recipients.length} valid age recipient(s)`);
      },
    },
  ];
}

/** The drill target's escrow identity must open the job's escrow (one of its recipients). */
export function symfonySecretsDrillDoctor(
  target: SymfonySecretsTarget,
  source: JobSource<SymfonySecretsJob>,
  subject: string,
): CheckSpec[] {
  const file = target.escrowIdentityFile;
  if (file === undefined) return [];
  return [
    {
      subject,
      name: `escrow identity ${target.job}`,
      run: async () => {
        const identities = await readIdentityFile(file);
        const own = new Set(await Promise.all(identities.map((identity) => identityToRecipient(identity))));
        const escrow = await readEscrowRecipients(source);
        if (!escrow.some((recipient) => own.has(recipient))) {
          return fail(
            `${file}: none of its identities is an escrow recipient of ${target.job}`,
            "use an escrow holder's identity whose public key is in the job's escrowRecipients",
          );
        }
        return ok(`${file}: opens the escrow of ${target.job}`);
      },
    },
  ];
}
