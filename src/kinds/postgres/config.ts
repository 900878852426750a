/** What `validate` and the config loader ask of any PostgreSQL job: its server and its secrets. */
import { secretField } from "../../secrets/resolve.js";
import { isLocalHost } from "../../util/local-host.js";
import type { JobSource, SecretSpec } from "../contract.js";
import type { Connection, Tools } from "./config-schema.js";

interface PgConfig {
  name: string;
  kind: string;
  policy: string;
  connection: Connection;
  tools: Tools;
}

/** `backup@db:5432` or `URL from $TASK_DB_URL`, and where the client tools run. */
export function describePostgresServer(job: PgConfig): { server: string; tools: string } {
  const connection = job.connection;
  const mode = connection.sslmode ?? "prefer";
  // A server on another host without a verified certificate: said in `validate` (doctor explains).
  const unverified =
    "urlEnv" in connection || isLocalHost(connection.host) || mode === "verify-ca" || mode === "verify-full"
      ? ""
      : ` (TLS not verified: sslmode ${mode})`;
  const server =
    "urlEnv" in connection
      ? `URL from $${connection.urlEnv}`
      : `${connection.user}@${connection.host}:${connection.port}${unverified}`;
  const tools = "image" in job.tools ? `tools image ${job.tools.image}` : `tools ${job.tools.binDir}`;
  return { server, tools };
}

export function postgresSecrets({ file, job }: JobSource<PgConfig>): SecretSpec {
  const connection = job.connection;
  if ("urlEnv" in connection) {
    return {
      secrets: [{ where: { file, path: "connection.urlEnv" }, ref: { env: connection.urlEnv } }],
      recipients: [],
    };
  }
  const password = secretField(connection, "password", { file, path: "connection" });
  return { secrets: password === undefined ? [] : [password], recipients: [] };
}

/** PostgreSQL client tools in a container need the Docker engine on the backup host. */
export const toolsNeedDocker = (job: { tools: Tools }): boolean => "image" in job.tools;
