/** Public API of the configuration layer. */
export { loadConfig } from "./load.js";
export { describeConfig, describeJobTarget, describeRepository, type DescribeOptions } from "./describe.js";
export {
  checkSecrets,
  defaultDecryptionKeyFile,
  readEscrowRecipients,
  readRecipientList,
  readRecipients,
  resolveSecret,
  secretField,
  type CheckSecretsOptions,
  type FieldLocation,
  type SecretRef,
  type SecretScope,
} from "./secrets.js";
export { expandEnv, expandString } from "./env.js";
export { formatDuration, parseDurationSeconds } from "../schema/duration.js";
export { isAgeRecipient } from "../schema/age-recipient.js";
export { generateJsonSchemas, renderJsonSchema, JSON_SCHEMA_FILES } from "./json-schema.js";
export type { Config, LoadConfigOptions, LoadedDrill, LoadedJob, LoadedPolicy } from "./types.js";
export type { Connection, HostConnection, SslMode, Tools, UrlConnection } from "../schema/common.js";
export type {
  EncryptionConfig,
  LocalRepositoryConfig,
  ObjectLockConfig,
  Policy,
  RepositoryConfig,
  RetentionConfig,
  S3RepositoryConfig,
} from "../schema/policy.js";
export {
  JOB_KINDS,
  type Destination,
  type FilesJob,
  type Job,
  type JobKind,
  type PostgresBaseJob,
  type PostgresDumpJob,
  type RabbitmqJob,
  type S3BucketJob,
  type SymfonySecretsJob,
} from "../kinds/registry-jobs.js";
export {
  CHECKS_BY_KIND,
  type Drill,
  type DrillChecks,
  type DrillTarget,
  type SqlCheck,
} from "./drill-schema.js";
