/**
 * Backup of a rabbitmq job: the broker's definitions (users, vhosts, permissions, policies,
 * parameters, queues, exchanges, bindings) from GET /api/definitions, stored byte for byte as
 * the broker sent them, after the response has been proven whole: a 401, an HTML error page, a
 * truncated body or JSON without the definitions lists fails the job before anything is stored.
 */
import { Readable } from "node:stream";
import { resolveSecret, secretField } from "../../secrets/resolve.js";
import { inJob, OperationError, UsageError } from "../../errors.js";
import type { BackupContext, BackupOutcome } from "../contract.js";
import {
  countDefinitions,
  describeMirroring,
  findClassicMirroring,
  parseDefinitions,
} from "./definitions.js";
import { getJson, redactedUrl, type ManagementEndpoint } from "./http.js";
import { DEFINITIONS_ARTIFACT, FACTS_VERSION, type RabbitmqFacts } from "./facts.js";
import type { RabbitmqJobInput } from "./types.js";

export async function resolveEndpoint(
  job: RabbitmqJobInput,
  env: NodeJS.ProcessEnv,
  jobFile: string,
): Promise<ManagementEndpoint> {
  const field = secretField(job, "password", { file: jobFile, path: "" });
  if (field === undefined) throw new UsageError(`job ${job.name}: set passwordEnv or passwordFile`);
  const password = await resolveSecret(field.ref, field.where, env);
  return { url: job.url, user: job.user, password, tls: job.tls };
}

export interface ServerInfo {
  version: string | null;
  product: string | null;
  managementVersion: string | null;
  clusterName: string | null;
}

const str = (value: unknown): string | null => (typeof value === "string" && value !== "" ? value : null);

export async function serverInfo(endpoint: ManagementEndpoint, signal?: AbortSignal): Promise<ServerInfo> {
  const { value } = await getJson(endpoint, "/api/overview", signal);
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new OperationError(`GET ${redactedUrl(endpoint.url)}/api/overview: expected an object`);
  }
  const o = value as Record<string, unknown>;
  const info = {
    version: str(o.rabbitmq_version),
    product: str(o.product_name),
    managementVersion: str(o.management_version),
    clusterName: str(o.cluster_name),
  };
  if (info.version === null && info.managementVersion === null) {
    throw new OperationError(
      `GET ${redactedUrl(endpoint.url)}/api/overview: no rabbitmq_version in the answer; is this a RabbitMQ management API?`,
    );
  }
  return info;
}

export async function backupRabbitmq(
  context: BackupContext<RabbitmqJobInput>,
): Promise<BackupOutcome<RabbitmqFacts>> {
  const { job, log, signal } = context;
  try {
    const endpoint = await resolveEndpoint(job, context.env, context.jobFile);
    const info = await serverInfo(endpoint, signal);
    const { value, raw } = await getJson(endpoint, "/api/definitions", signal);
    const definitions = parseDefinitions(value, `GET ${redactedUrl(endpoint.url)}/api/definitions`);
    const counts = countDefinitions(definitions);
    const mirroring = findClassicMirroring(definitions);
    if (mirroring.length > 0) {
      log.warn(
        { job: job.name, policies: mirroring.map((p) => `${p.vhost}/${p.name}`) },
        `rabbitmq: classic mirroring policy keys, which RabbitMQ 4.x refuses: ${describeMirroring(mirroring)}`,
      );
    }
    signal.throwIfAborted();
    await context.snapshot.addArtifact(DEFINITIONS_ARTIFACT, Readable.from([raw]), { signal });
    log.info(
      { job: job.name, server: info.version, users: counts.users, vhosts: counts.vhosts, bytes: raw.length },
      "rabbitmq: definitions exported",
    );
    const facts: RabbitmqFacts = {
      kind: "rabbitmq",
      version: FACTS_VERSION,
      server: info,
      artifact: DEFINITIONS_ARTIFACT,
      counts,
      classicMirroring: mirroring,
    };
    return {
      facts,
      meta: {
        serverVersion: info.version ?? info.managementVersion ?? "unknown",
        definitionsBytes: raw.length,
      },
    };
  } catch (error) {
    throw inJob(`job ${job.name}`, signal.aborted ? (signal.reason ?? error) : error);
  }
}
