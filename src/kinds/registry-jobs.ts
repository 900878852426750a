/** All job kinds as one union, told apart by `kind`. */
import * as z from "zod";
import { filesJobSchema } from "./files/job-schema.js";
import { postgresBaseJobSchema } from "./postgres-base/job-schema.js";
import { postgresDumpJobSchema } from "./postgres-dump/job-schema.js";
import { rabbitmqJobSchema } from "./rabbitmq/job-schema.js";
import { s3BucketJobSchema } from "./s3-bucket/job-schema.js";
import { symfonySecretsJobSchema } from "./symfony-secrets/job-schema.js";

export const jobSchema = z
  .discriminatedUnion("kind", [
    postgresDumpJobSchema,
    postgresBaseJobSchema,
    filesJobSchema,
    s3BucketJobSchema,
    rabbitmqJobSchema,
    symfonySecretsJobSchema,
  ])
  .meta({ title: "backdrill job", description: "jobs/<name>.yaml" });

export const JOB_KINDS = [
  "postgres-dump",
  "postgres-base",
  "files",
  "s3-bucket",
  "rabbitmq",
  "symfony-secrets",
] as const;

export type Job = z.infer<typeof jobSchema>;
export type JobKind = Job["kind"];

export { filesJobSchema, parseDestination, type Destination, type FilesJob } from "./files/job-schema.js";
export { postgresBaseJobSchema, type PostgresBaseJob } from "./postgres-base/job-schema.js";
export { postgresDumpJobSchema, type PostgresDumpJob } from "./postgres-dump/job-schema.js";
export { rabbitmqJobSchema, type RabbitmqJob } from "./rabbitmq/job-schema.js";
export { s3BucketJobSchema, type S3BucketJob } from "./s3-bucket/job-schema.js";
export { symfonySecretsJobSchema, type SymfonySecretsJob } from "./symfony-secrets/job-schema.js";
