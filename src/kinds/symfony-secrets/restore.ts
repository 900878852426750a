/**
 * Disaster restore of a symfony-secrets snapshot into a directory, for the operator to deploy:
 *
 *   BACKDRILL_ESCROW_IDENTITY_FILE=/secure/escrow.txt backdrill restore task-secrets --to /root/prod-secrets
 *
 * Writes the vault's files and `<env>.decrypt.private.php` (rendered in Symfony's format when the
 * key came from SYMFONY_DECRYPTION_SECRET at backup time), each 0600, in a 0700 directory. Files
 * that already exist there are not overwritten without --force. The escrow identity comes from
 * --escrow-identity or BACKDRILL_ESCROW_IDENTITY_FILE (restore-options.ts); the policy identity
 * (--identity) opens only the outer layer.
 */
import { chmod, lstat, mkdir } from "node:fs/promises";
import path from "node:path";
import { writePrivateFile } from "../../fs/private-files.js";
import { requireArtifacts } from "../facts-values.js";
import { inJob, UsageError } from "../../errors.js";
import type { RestoreContext, RestorePlan } from "../contract.js";
import { checkBundleAgainstFacts, openEscrow, readArtifact } from "./escrow.js";
import { renderDecryptionKeyFile } from "./php.js";
import type { SymfonySecretsFacts } from "./facts.js";
import { ESCROW_IDENTITY_ENV, type SymfonySecretsRestoreOptions } from "./restore-options.js";
import type { SymfonySecretsJobInput } from "./types.js";
import { fileNames, inspectVault, vaultProblems, wipe } from "./vault.js";

type SymfonySecretsRestoreContext = RestoreContext<
  SymfonySecretsJobInput,
  SymfonySecretsFacts,
  SymfonySecretsRestoreOptions
>;

/** What apply executes: the directory to write and the escrow identity that opens the key. */
export interface SymfonySecretsRestorePlan {
  dir: string;
  escrowIdentity: string | undefined;
}

function targetFiles(facts: SymfonySecretsFacts): string[] {
  const key = fileNames.privateKey(facts.environment);
  return facts.files.includes(key) ? facts.files : [...facts.files, key];
}

async function existing(dir: string, names: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const name of names) {
    try {
      await lstat(path.join(dir, name));
      out.push(name);
    } catch {
      // absent: fine
    }
  }
  return out;
}

/** Creates `dir` 0700 when it does not exist; leaves an existing directory's mode alone. */
async function makeDirIfMissing(dir: string): Promise<void> {
  try {
    await mkdir(dir, { mode: 0o700 });
    await chmod(dir, 0o700);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") {
        await mkdir(dir, { recursive: true, mode: 0o700 });
        await chmod(dir, 0o700);
        return;
      }
      throw error;
    }
  }
}

async function resolveDir(to: string): Promise<string> {
  if (to === "" || /^[a-z][a-z0-9+.-]*:\/\//i.test(to)) {
    throw new UsageError(`--to: expected a directory for the restored vault, got ${to}`);
  }
  const dir = path.resolve(to);
  try {
    const info = await lstat(dir);
    if (!info.isDirectory()) throw new UsageError(`--to: ${dir} exists and is not a directory`);
  } catch (error) {
    if (error instanceof UsageError) throw error;
  }
  return dir;
}

export async function planSymfonySecretsRestore(
  context: SymfonySecretsRestoreContext,
): Promise<RestorePlan<SymfonySecretsRestorePlan>> {
  const { job, facts } = context;
  try {
    requireArtifacts(context.artifacts, [{ name: facts.artifact, field: "artifact" }]);
    const dir = await resolveDir(context.to);
    const names = targetFiles(facts);
    const clash = await existing(dir, names);
    const snapshot = context.artifacts.snapshot;
    const identity = context.options.escrowIdentity;
    const steps = [
      `snapshot ${snapshot.id} of job ${snapshot.job}, taken ${snapshot.createdAt}: vault ${facts.environment} with ${facts.count} secret(s), public key ${facts.publicKeyFingerprint}`,
      `open the escrow with ${identity ?? `the escrow identity (pass --escrow-identity or set ${ESCROW_IDENTITY_ENV})`}, in memory`,
      `check that the key opens every listed secret`,
      `write into ${dir} (directory 0700, files 0600): ${names.join(", ")}` +
        (facts.files.includes(fileNames.privateKey(facts.environment))
          ? ""
          : ` (${fileNames.privateKey(facts.environment)} rendered from the escrowed key, as Symfony writes it)`),
    ];
    const warnings: string[] = [];
    if (identity === undefined)
      warnings.push(
        `no escrow identity given: set ${ESCROW_IDENTITY_ENV} to an escrow holder's age identity file`,
      );
    if (clash.length > 0) {
      warnings.push(
        context.force
          ? `--force: overwrites ${clash.join(", ")} in ${dir}`
          : `${clash.join(", ")} already exist in ${dir}: the restore refuses to overwrite them without --force`,
      );
    }
    warnings.push(
      `${fileNames.privateKey(facts.environment)} is the production decryption key: deploy it (or SYMFONY_DECRYPTION_SECRET) and remove the restored copy`,
    );
    const mode = (await lstat(dir).catch(() => undefined))?.mode;
    if (mode !== undefined && (mode & 0o077) !== 0) {
      warnings.push(
        `${dir} exists with mode ${(mode & 0o777).toString(8).padStart(4, "0")}: the files are written 0600, but the directory is left as it is (others can see their names); prefer a new directory`,
      );
    }
    return { steps, warnings, data: { dir, escrowIdentity: identity } };
  } catch (error) {
    throw inJob(`job ${job.name}`, error);
  }
}

export async function applySymfonySecretsRestore(
  context: SymfonySecretsRestoreContext,
  plan: RestorePlan<SymfonySecretsRestorePlan>,
): Promise<void> {
  const { job, signal, log, facts } = context;
  const { dir, escrowIdentity: identity } = plan.data;
  let cleanup: Array<Uint8Array | undefined> = [];
  try {
    if (identity === undefined) {
      throw new UsageError("restoring a symfony-secrets snapshot needs an escrow holder's age identity", {
        hint: `set ${ESCROW_IDENTITY_ENV}=/path/to/escrow-identity.txt (the policy identity only opens the outer layer)`,
      });
    }
    const ciphertext = await readArtifact(context.artifacts, facts.artifact, signal);
    const bundle = await openEscrow(ciphertext, identity, facts.escrowRecipients);
    cleanup = [bundle.key.bytes, ...bundle.files.map((file) => file.data)];
    checkBundleAgainstFacts(bundle, facts, context.artifacts);
    const env = bundle.environment;
    const report = await inspectVault(bundle.files, env, bundle.key);
    const problems = vaultProblems(report);
    if (problems.length > 0) {
      log.warn(
        { job: job.name, problems },
        "restore: the escrowed key does not open every secret; writing the vault as it was backed up",
      );
    }
    const outputs = new Map(bundle.files.map((file) => [file.name, file.data]));
    const keyName = fileNames.privateKey(env);
    if (!outputs.has(keyName)) {
      const rendered = Buffer.from(renderDecryptionKeyFile(env, bundle.key.bytes), "latin1");
      cleanup.push(rendered);
      outputs.set(keyName, rendered);
    }
    const clash = await existing(dir, [...outputs.keys()]);
    if (clash.length > 0 && !context.force) {
      throw new UsageError(`${dir} already holds ${clash.join(", ")}; refusing to overwrite`, {
        hint: "restore into an empty directory, or add --force to overwrite",
      });
    }
    // A new directory is made 0700; an existing one keeps its mode (it is the operator's: --to
    // /root must not become 0700, nor /tmp). Each file is 0600, written to a temp file and
    // renamed, so a symlink already at a name is replaced, never written through.
    await makeDirIfMissing(dir);
    for (const [name, data] of outputs) {
      signal.throwIfAborted();
      await writePrivateFile(path.join(dir, name), data);
    }
    log.info(
      { job: job.name, dir, files: outputs.size, secrets: report.listed.length },
      "restore: vault and key written",
    );
  } catch (error) {
    throw inJob(`job ${job.name}`, signal.aborted ? (signal.reason ?? error) : error);
  } finally {
    wipe(...cleanup);
  }
}
