/** All job kinds as one union, told apart by `kind`. */
import * as z from "zod";
import { filesJobSchema } from "./files.js";
import { postgresBaseJobSchema } from "./postgres-base.js";
import { postgresDumpJobSchema } from "./postgres-dump.js";
import { rabbitmqJobSchema } from "./rabbitmq.js";
import { s3BucketJobSchema } from "./s3-bucket.js";
import { symfonySecretsJobSchema } from "./symfony-secrets.js";

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

export { filesJobSchema, parseDestination, type Destination, type FilesJob } from "./files.js";
export { postgresBaseJobSchema, type PostgresBaseJob } from "./postgres-base.js";
export { postgresDumpJobSchema, type PostgresDumpJob } from "./postgres-dump.js";
export { rabbitmqJobSchema, type RabbitmqJob } from "./rabbitmq.js";
export { s3BucketJobSchema, type S3BucketJob } from "./s3-bucket.js";
export { symfonySecretsJobSchema, type SymfonySecretsJob } from "./symfony-secrets.js";
