/**
 * Checks of the `files`, `s3-bucket`, `rabbitmq` and `symfony-secrets` jobs: the source can be
 * read, the destination or service answers with the job's credentials, and the tools exist.
 * Read-only throughout: the s3 bucket is inspected with `apply: false`, the Symfony key is
 * decoded only to compare its public half with the vault's (no secret is opened), and no value
 * read here is ever part of a result.
 */
import { constants } from "node:fs";
import { access, readFile, stat } from "node:fs/promises";
import path from "node:path";
import {
  defaultDecryptionKeyFile,
  readEscrowRecipients,
  resolveSecret,
  secretField,
} from "../../config/secrets.js";
import type { FilesJob } from "../../config/schema/jobs/files.js";
import type { RabbitmqJob } from "../../config/schema/jobs/rabbitmq.js";
import type { S3BucketJob } from "../../config/schema/jobs/s3-bucket.js";
import type { SymfonySecretsJob } from "../../config/schema/jobs/symfony-secrets.js";
import type { LoadedJob } from "../../config/types.js";
import { locateDestination } from "../../engines/files/destination.js";
import { RemotePlace } from "../../engines/files/place.js";
import { shellQuote } from "../../engines/files/ssh.js";
import { resolveEndpoint as rabbitEndpoint, serverInfo } from "../../engines/rabbitmq/backup.js";
import { getJson } from "../../engines/rabbitmq/http.js";
import { clientFor, jobConnection } from "../../engines/s3-bucket/connection.js";
import { lifecyclePolicyOf } from "../../engines/s3-bucket/setup.js";
import { parsePhpListFile, parsePhpStringFile } from "../../engines/symfony-secrets/php.js";
import {
  decodeKeyFile,
  decodeKeyText,
  fileNames,
  fingerprintOf,
  publicKeyOf,
  wipe,
  type Keypair,
} from "../../engines/symfony-secrets/vault.js";
import { run } from "../../exec/process.js";
import { ensureRepositoryBucket, type BucketSetupReport } from "../../storage/s3/bucket-setup.js";
import type { DoctorContext } from "./context.js";
import type { Finding } from "./report.js";
import { checkWritableDir } from "./repository.js";
import { fail, ok, shared, SkipCheck, warn, type CheckSpec } from "./runner.js";

const uid = (): string => (typeof process.getuid === "function" ? ` (uid ${process.getuid()})` : "");

/** `rsync  version 3.2.7  protocol version 31` → `3.2.7`; the first line otherwise. */
function firstVersion(output: string): string {
  const line = output.split("\n").find((entry) => entry.trim() !== "") ?? "";
  return /version\s+(\S+)/i.exec(line)?.[1] ?? /OpenSSH_\S+/.exec(line)?.[0] ?? line.trim();
}

async function readableDir(dir: string, field: string): Promise<Finding> {
  let info;
  try {
    info = await stat(dir);
  } catch {
    return fail(`${dir} does not exist`, `check ${field}; is the volume mounted?`);
  }
  if (!info.isDirectory()) return fail(`${dir} is not a directory`, `point ${field} at a directory`);
  try {
    await access(dir, constants.R_OK | constants.X_OK);
  } catch {
    return fail(`${dir} is not readable${uid()}`, "let the backdrill user read it (group membership or ACL)");
  }
  return ok(`${dir} is readable`);
}

function filesChecks(context: DoctorContext, job: FilesJob, subject: string): CheckSpec[] {
  const checks: CheckSpec[] = [
    { subject, name: "source", run: () => readableDir(job.source, "source") },
    {
      subject,
      name: "rsync",
      run: async (signal) => {
        const result = await run("rsync", ["--version"], { signal, description: "rsync --version" });
        return ok(`rsync ${firstVersion(result.stdout)}`);
      },
    },
  ];
  const located = locateDestination(job);
  if (!located.remote || !(located.place instanceof RemotePlace)) {
    checks.push({ subject, name: "destination", run: () => checkWritableDir(located.root, "destination") });
    return checks;
  }
  const place = located.place;
  checks.push(
    {
      subject,
      name: "ssh",
      run: async (signal) => {
        // OpenSSH prints its version on stderr.
        const result = await run("ssh", ["-V"], { signal, description: "ssh -V" });
        return ok(firstVersion(result.stderr || result.stdout));
      },
    },
    {
      subject,
      name: "destination",
      run: async (signal) => {
        // One login answers three questions: ssh works, the directory is there, rsync is installed.
        const root = shellQuote(located.root);
        const result = await place.sh(
          `command -v rsync >/dev/null || exit 4; if [ -d ${root} ]; then [ -w ${root} ] || exit 5; exit 0; fi; exit 3`,
          `check ${located.root}`,
          { signal, okExitCodes: [0, 3, 4, 5] },
        );
        const where = place.describe(located.root);
        switch (result.exitCode) {
          case 4:
            return fail(`${where}: rsync is not installed on the destination host`, "install rsync there");
          case 5:
            return fail(`${where} is not writable by the ssh user`, "chown the directory to the ssh user");
          case 3:
            return warn(`${where} does not exist yet; the first backup creates it`);
          default:
            return ok(`${where} reachable over ssh, writable, rsync present`);
        }
      },
    },
  );
  return checks;
}

function s3BucketChecks(context: DoctorContext, job: S3BucketJob, subject: string): CheckSpec[] {
  const setup = shared<BucketSetupReport>(async () => {
    const client = clientFor(await jobConnection(job, context.env));
    try {
      return await ensureRepositoryBucket(client, job.bucket, {
        prefix: job.prefix ?? "",
        lifecycle: lifecyclePolicyOf(job),
        apply: false,
      });
    } finally {
      client.destroy();
    }
  }, context);
  const item = (setting: "versioning" | "lifecycle") => async (): Promise<Finding> => {
    let report: BucketSetupReport;
    try {
      report = await setup();
    } catch (error) {
      if (setting === "lifecycle")
        throw new SkipCheck("bucket settings could not be read (see bucket versioning)");
      throw error;
    }
    const entry = report.items.find((candidate) => candidate.setting === setting);
    if (entry?.status !== "drift") return ok(`s3://${job.bucket}: ${entry?.detail || "as the job asks"}`);
    // modify: true lets the next backup repair it; modify: false makes that backup fail.
    return job.modify
      ? warn(
          `s3://${job.bucket}: ${entry.detail}`,
          `the next backup of ${job.name} changes it (modify: true)`,
        )
      : fail(
          `s3://${job.bucket}: ${entry.detail} and modify is false, so the backup will refuse to run`,
          `fix it on the bucket (aws s3api put-bucket-versioning / put-bucket-lifecycle-configuration), or set modify: true`,
        );
  };
  return [
    { subject, name: "bucket versioning", run: item("versioning") },
    { subject, name: "bucket lifecycle", run: item("lifecycle") },
  ];
}

function rabbitmqChecks(context: DoctorContext, job: RabbitmqJob, subject: string): CheckSpec[] {
  return [
    {
      subject,
      name: "management API",
      run: async (signal) => {
        const endpoint = await rabbitEndpoint(job, context.env);
        const info = await serverInfo(endpoint, signal);
        const { value } = await getJson(endpoint, "/api/whoami", signal);
        const rawTags = (value as { tags?: unknown } | null)?.tags;
        const tags = Array.isArray(rawTags)
          ? rawTags.map(String)
          : typeof rawTags === "string"
            ? rawTags.split(",").filter((tag) => tag !== "")
            : [];
        const what = `${job.url}: ${info.product ?? "RabbitMQ"} ${info.version ?? info.managementVersion ?? "?"}, user ${job.user}`;
        if (!tags.includes("administrator")) {
          return fail(
            `${what} has tags [${tags.join(", ")}]; exporting definitions needs administrator`,
            `rabbitmqctl set_user_tags ${job.user} administrator`,
          );
        }
        return ok(`${what} (administrator)`);
      },
    },
  ];
}

/** The job's Symfony key, from env, file or the vault's default file; the caller wipes it. */
async function loadKey(
  context: DoctorContext,
  job: SymfonySecretsJob,
): Promise<{ key: Keypair; source: string }> {
  const file = `jobs/${job.name}.yaml`;
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

function symfonyChecks(context: DoctorContext, job: SymfonySecretsJob, subject: string): CheckSpec[] {
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
        const { key, source } = await loadKey(context, job);
        try {
          const publicKey = publicKeyOf(key);
          const publicFile = path.join(job.vault, fileNames.publicKey(job.environment));
          let stored: Buffer;
          try {
            stored = parsePhpStringFile(await readFile(publicFile));
          } catch {
            return warn(
              `key from ${source} is a 64-byte keypair; ${publicFile} is missing, so it cannot be matched to the vault`,
            );
          }
          if (!stored.equals(Buffer.from(publicKey))) {
            return fail(
              `key from ${source} (${fingerprintOf(publicKey)}) does not belong to this vault (its public key is ${fingerprintOf(stored)})`,
              "the key opens another vault: find the right SYMFONY_DECRYPTION_SECRET / decrypt.private.php",
            );
          }
          return ok(`key from ${source} matches the vault's public key (${fingerprintOf(publicKey)})`);
        } finally {
          wipe(key.bytes);
        }
      },
    },
    {
      subject,
      name: "escrow recipients",
      run: async () => {
        const recipients = await readEscrowRecipients({ file: `jobs/${job.name}.yaml`, job });
        return ok(`${recipients.length} valid age recipient(s)`);
      },
    },
  ];
}

export function otherJobChecks(context: DoctorContext, loaded: LoadedJob): CheckSpec[] {
  const job = loaded.job;
  const subject = `job ${job.name}`;
  switch (job.kind) {
    case "files":
      return filesChecks(context, job, subject);
    case "s3-bucket":
      return s3BucketChecks(context, job, subject);
    case "rabbitmq":
      return rabbitmqChecks(context, job, subject);
    case "symfony-secrets":
      return symfonyChecks(context, job, subject);
    default:
      return [];
  }
}
