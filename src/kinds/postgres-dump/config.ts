/** What `validate` says of a `postgres-dump` job. */
import { describePostgresServer } from "../postgres/config.js";
import type { PostgresDumpJob } from "./job-schema.js";

export function describePostgresDumpJob(job: PostgresDumpJob): string {
  const { server, tools } = describePostgresServer(job);
  const databases = job.databases === undefined ? "all databases" : `databases ${job.databases.join(", ")}`;
  const format =
    job.format === "directory" ? `directory format, ${job.parallel ?? 1} parallel` : "custom format";
  return `${server}; ${databases}; ${format}${job.globals ? " + globals" : ""}; ${tools}`;
}
