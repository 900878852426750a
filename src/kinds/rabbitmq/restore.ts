/**
 * Disaster restore of a rabbitmq snapshot into a running broker:
 *
 *   backdrill restore task-rabbitmq --to http://admin:PASSWORD@mq2:15672 [--dry-run]
 *
 * Credentials for the target: the URL's userinfo (masked in every message), or
 * BACKDRILL_RESTORE_RABBITMQ_USER / BACKDRILL_RESTORE_RABBITMQ_PASSWORD in the environment (which
 * keeps the password out of shell history). An https target uses the job's `tls` settings.
 *
 * A definitions import only adds and updates: it never deletes anything on the target, and it
 * silently skips queues and exchanges that already exist, even with other arguments. The plan
 * says so, and when the target answers it lists, per kind, what would be created and what is
 * already there. Classic mirroring keys are stripped for a RabbitMQ 4.x target (which refuses
 * them) unless --strip-classic-mirroring=false. Like every other kind, it refuses a target that
 * already holds definitions (users, vhosts, queues, exchanges, bindings, policies beyond what a
 * fresh broker has) unless --force: an import merges, and a merge is not a restore.
 */
import { registerSecret } from "../../log/redact.js";
import { inJob, OperationError, UsageError } from "../../errors.js";
import type { RestoreContext, RestorePlan } from "../contract.js";
import { readDefinitionsArtifact } from "./artifact.js";
import { serverInfo } from "./backup.js";
import {
  countDefinitions,
  describeMirroring,
  documentVersion,
  findClassicMirroring,
  forImport,
  majorVersion,
  normalise,
  parseDefinitions,
  partitionExisting,
  stripClassicMirroring,
  type Definitions,
} from "./definitions.js";
import { getJson, postJson, redactedUrl, type ManagementEndpoint } from "./http.js";
import type { RabbitmqFacts } from "./facts.js";
import { printable, requireArtifacts } from "../facts-values.js";
import type { RabbitmqRestoreOptions } from "./restore-options.js";
import type { RabbitmqJobInput } from "./types.js";

export const RESTORE_USER_ENV = "BACKDRILL_RESTORE_RABBITMQ_USER";
export const RESTORE_PASSWORD_ENV = "BACKDRILL_RESTORE_RABBITMQ_PASSWORD";

export interface Target {
  endpoint: ManagementEndpoint | undefined;
  display: string;
  missingCredentials: string | undefined;
}

export function parseTarget(to: string, env: NodeJS.ProcessEnv, tls: RabbitmqJobInput["tls"]): Target {
  let url: URL;
  try {
    url = new URL(to);
  } catch {
    throw new UsageError(
      `--to: expected the management API URL of the target, like http://host:15672, got ${redactedUrl(to)}`,
    );
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new UsageError(`--to: expected an http:// or https:// management API URL, got ${url.protocol}`);
  }
  const fromUrl = url.username !== "";
  const user = fromUrl ? decodeURIComponent(url.username) : env[RESTORE_USER_ENV];
  const password = fromUrl ? decodeURIComponent(url.password) : env[RESTORE_PASSWORD_ENV];
  if (password !== undefined && password !== "") registerSecret(password);
  url.username = "";
  url.password = "";
  const base = url.toString().replace(/\/+$/, "");
  const display = user === undefined ? base : `${redactedUrl(base)} (user ${user})`;
  if (user === undefined || user === "" || password === undefined || password === "") {
    return {
      endpoint: undefined,
      display,
      missingCredentials: `no credentials for ${base}: put them in the URL (http://user:password@host:15672) or set ${RESTORE_USER_ENV} and ${RESTORE_PASSWORD_ENV}`,
    };
  }
  return {
    endpoint: { url: base, user, password, ...(url.protocol === "https:" ? { tls } : {}) },
    display,
    missingCredentials: undefined,
  };
}

type RabbitmqRestoreContext = RestoreContext<RabbitmqJobInput, RabbitmqFacts, RabbitmqRestoreOptions>;

/** What apply executes: the definitions to import and where. Holds the target's password. */
export interface RabbitmqRestorePlan {
  toImport: Definitions;
  target: Target;
  /** The target's definitions when the plan was made; undefined when it could not be read. */
  existing: Definitions | undefined;
  /** What the target already holds beyond a fresh broker (empty: nothing). */
  occupied: string[];
  lookError: string | undefined;
}

/** What a target holds beyond a fresh broker's own vhost "/" and the connecting user. */
export function brokerContents(existing: Definitions, user: string | undefined): string[] {
  const counts = countDefinitions(existing, user === undefined ? {} : { ignoreUser: user });
  const out: string[] = [];
  if (counts.users > 0) out.push(`${counts.users} user(s)`);
  const vhosts = existing.lists.vhosts.map((v) => String(v.name)).filter((name) => name !== "/");
  if (vhosts.length > 0) out.push(`vhost(s) ${vhosts.join(", ")}`);
  for (const [vhost, c] of Object.entries(counts.perVhost)) {
    const parts = Object.entries(c)
      .filter(([key, value]) => value > 0 && key !== "permissions" && key !== "topicPermissions")
      .map(([key, value]) => `${value} ${key}`);
    if (parts.length > 0) out.push(`vhost ${vhost}: ${parts.join(", ")}`);
  }
  return out;
}

interface Prepared {
  source: Definitions;
  toImport: Definitions;
  target: Target;
  targetVersion: string | undefined;
  existing: Definitions | undefined;
  lookError: string | undefined;
  stripped: boolean;
}

async function prepare(context: RabbitmqRestoreContext): Promise<Prepared> {
  const { job, options, signal, facts } = context;
  requireArtifacts(context.artifacts, [{ name: facts.artifact, field: "artifact" }]);
  const target = parseTarget(context.to, context.env, job.tls);
  const source = await readDefinitionsArtifact(context.artifacts, facts.artifact, signal);
  let targetVersion: string | undefined;
  let existing: Definitions | undefined;
  let lookError: string | undefined = target.missingCredentials;
  if (target.endpoint !== undefined) {
    try {
      const info = await serverInfo(target.endpoint, signal);
      targetVersion = info.version ?? info.managementVersion ?? undefined;
      const { value } = await getJson(target.endpoint, "/api/definitions", signal);
      existing = parseDefinitions(value, `the target's definitions`);
    } catch (error) {
      signal.throwIfAborted();
      lookError = error instanceof Error ? error.message : String(error);
    }
  }
  const option = options.stripClassicMirroring;
  const mirroring = findClassicMirroring(source);
  // Default: strip for a 4.x target (or an unknown one: every supported release is 4.x now).
  const stripped =
    mirroring.length > 0 &&
    (option === true ||
      (option !== false && (targetVersion === undefined || majorVersion(targetVersion) >= 4)));
  return {
    source,
    toImport: stripped ? stripClassicMirroring(forImport(source)) : forImport(source),
    target,
    targetVersion,
    existing,
    lookError,
    stripped,
  };
}

const SHOWN = 10;
function names(list: string[]): string {
  return list.length <= SHOWN
    ? list.join(", ")
    : `${list.slice(0, SHOWN).join(", ")}, … (${list.length - SHOWN} more)`;
}

export async function planRabbitmqRestore(
  context: RabbitmqRestoreContext,
): Promise<RestorePlan<RabbitmqRestorePlan>> {
  let prepared: Prepared;
  try {
    prepared = await prepare(context);
  } catch (error) {
    throw inJob(`job ${context.job.name}`, error);
  }
  const { source, toImport, target, targetVersion, existing, lookError, stripped } = prepared;
  const snapshot = context.artifacts.snapshot;
  const steps: string[] = [];
  const warnings: string[] = [];
  steps.push(
    `snapshot ${snapshot.id} of job ${snapshot.job}, taken ${snapshot.createdAt} from RabbitMQ ${documentVersion(source) ?? "unknown"}`,
  );
  steps.push(
    `target ${target.display}${targetVersion === undefined ? "" : `, RabbitMQ ${targetVersion}`}: POST /api/definitions`,
  );
  const wanted = normalise(toImport);
  const there = existing === undefined ? undefined : normalise(existing);
  for (const entry of partitionExisting(
    wanted,
    there ?? normalise(parseDefinitions(emptyDefinitions(), "")),
  )) {
    if (entry.create.length === 0 && entry.exists.length === 0) continue;
    if (there === undefined) {
      steps.push(`${entry.kind}: ${entry.create.length} in the snapshot: ${names(entry.create)}`);
      continue;
    }
    const skipped = entry.kind === "queues" || entry.kind === "exchanges";
    steps.push(
      `${entry.kind}: create ${entry.create.length}${entry.create.length > 0 ? ` (${names(entry.create)})` : ""}` +
        (entry.exists.length > 0
          ? `; ${entry.exists.length} already exist${skipped ? " and are skipped, left as they are" : " and are updated from the snapshot"} (${names(entry.exists)})`
          : ""),
    );
  }
  steps.push("export the target's definitions again and check every object of the snapshot is there");
  if (lookError !== undefined) {
    warnings.push(`could not look at the target, so the plan lists the whole snapshot: ${lookError}`);
  }
  warnings.push(
    "a definitions import never deletes: objects on the target that are not in the snapshot stay; queues and exchanges that already exist are skipped, even if their arguments differ (delete them first if they must match the snapshot)",
  );
  warnings.push(
    "users in the snapshot get their backed-up password hashes and tags, also users that already exist",
  );
  const occupied = existing === undefined ? [] : brokerContents(existing, target.endpoint?.user);
  if (occupied.length > 0) {
    warnings.push(
      context.force
        ? `the target already holds definitions (${occupied.join("; ")}): --force imports the snapshot over them (nothing is deleted)`
        : `the target already holds definitions (${occupied.join("; ")}): the restore refuses without --force`,
    );
  }
  const mirroring = findClassicMirroring(source);
  if (mirroring.length > 0) {
    warnings.push(
      stripped
        ? `classic mirroring keys are removed before the import (RabbitMQ 4.x refuses them): ${describeMirroring(mirroring)}`
        : `the snapshot has classic mirroring policy keys, imported as is (stripClassicMirroring=false); RabbitMQ 4.x refuses them: ${describeMirroring(mirroring)}`,
    );
  }
  // Names come from the definitions in the snapshot (queue, user, vhost names may hold any
  // character): printed, they must not move the cursor or forge a line.
  return {
    steps: steps.map(printable),
    warnings: warnings.map(printable),
    data: { toImport, target, existing, occupied, lookError },
  };
}

function emptyDefinitions(): Record<string, unknown[]> {
  return { users: [], vhosts: [], permissions: [], policies: [], queues: [], exchanges: [], bindings: [] };
}

export async function applyRabbitmqRestore(
  context: RabbitmqRestoreContext,
  plan: RestorePlan<RabbitmqRestorePlan>,
): Promise<void> {
  const { job, log, signal } = context;
  const { toImport, target, lookError, existing, occupied } = plan.data;
  try {
    if (target.endpoint === undefined)
      throw new UsageError(target.missingCredentials ?? "no credentials for the target");
    if (existing === undefined)
      throw new OperationError(`cannot reach the target ${target.display}: ${lookError ?? "unknown error"}`);
    if (occupied.length > 0 && !context.force) {
      throw new UsageError(
        `--to ${target.display} already holds definitions (${occupied.join("; ")}); refusing to restore over them`,
        {
          hint: "restore into a fresh broker, or pass --force to import the snapshot over what is there (an import never deletes)",
        },
      );
    }
    await postJson(target.endpoint, "/api/definitions", JSON.stringify(toImport.document), signal);
    log.info({ job: job.name, target: target.display }, "restore: definitions imported");
    const { value } = await getJson(target.endpoint, "/api/definitions", signal);
    const after = normalise(parseDefinitions(value, "the target's definitions after the import"));
    const missing = partitionExisting(normalise(toImport), after).flatMap((entry) => entry.create);
    if (missing.length > 0) {
      throw new OperationError(
        `the import finished but ${missing.length} object(s) of the snapshot are not on ${target.display}:\n${missing.join("\n")}`,
      );
    }
  } catch (error) {
    throw inJob(`job ${job.name}`, signal.aborted ? (signal.reason ?? error) : error);
  }
}
