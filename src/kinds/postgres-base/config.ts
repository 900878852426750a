/** What `validate` says of a `postgres-base` job. */
import { describePostgresServer } from "../postgres/config.js";
import type { PostgresBaseJob } from "./job-schema.js";

export function describePostgresBaseJob(job: PostgresBaseJob): string {
  const { server, tools } = describePostgresServer(job);
  return `${server}; base backup + WAL archive; ${tools}`;
}
