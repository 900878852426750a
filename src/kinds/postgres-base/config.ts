/** What `validate` says of a `postgres-base` job. */
import { describePostgresServer } from "../postgres/config.js";
import type { PostgresBaseJob } from "./job-schema.js";

export function describePostgresBaseJob(job: PostgresBaseJob): string {
  const { server, tools } = describePostgresServer(job);
  const compressed = job.compression === "none" ? "uncompressed" : job.compression;
  return `${server}; base backup + WAL archive, ${compressed}; ${tools}`;
}
