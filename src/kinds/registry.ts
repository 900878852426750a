/**
 * The job kinds backdrill knows: one entry per kind. Everything generic derives from this list
 * (the job schema union, the kind list, the drill target schema, the restore flags), so a new
 * kind is its folder and one line here (docs/architecture.md, "Adding a job kind").
 */
import * as z from "zod";
import type { JobBase, JobSchema, Kind, TargetBase } from "./contract.js";
import { filesKind } from "./files/index.js";
import { postgresBaseKind } from "./postgres-base/index.js";
import { postgresDumpKind } from "./postgres-dump/index.js";
import { rabbitmqKind } from "./rabbitmq/index.js";
import { s3BucketKind } from "./s3-bucket/index.js";
import { symfonySecretsKind } from "./symfony-secrets/index.js";

export const KINDS = [
  postgresDumpKind,
  postgresBaseKind,
  filesKind,
  s3BucketKind,
  rabbitmqKind,
  symfonySecretsKind,
] as const;

type Kinds = typeof KINDS;
// Generic, so that the mapped type keeps the tuple (zod wants a non-empty tuple of schemas).
type SchemasOf<T extends readonly unknown[]> = {
  -readonly [I in keyof T]: T[I] extends { jobSchema: infer S } ? S : never;
};
type JobSchemas = SchemasOf<Kinds>;

export const jobSchema = z
  .discriminatedUnion("kind", KINDS.map((kind) => kind.jobSchema) as unknown as JobSchemas)
  .meta({ title: "backdrill job", description: "jobs/<name>.yaml" });

export type Job = z.output<typeof jobSchema>;
export type JobKind = Job["kind"];

export const JOB_KINDS: readonly JobKind[] = KINDS.map((kind): JobKind => kind.kind);

/**
 * A kind as generic code holds it: its job, target, facts, options and plan erased to their
 * bounds. Generic code only ever hands a kind the job of that kind (looked up by `job.kind`).
 */
export type AnyKind = Kind<JobSchema, TargetBase, unknown, unknown, unknown, JobBase>;

/** Every kind, erased: for generic code that walks all kinds (schemas, flags, docs). */
export const ALL_KINDS: readonly AnyKind[] = KINDS.map((kind) => kind as unknown as AnyKind);

const byName = new Map<string, AnyKind>(ALL_KINDS.map((kind) => [kind.kind, kind]));

/** The kind of a job; an unknown kind cannot pass the config loader, so this is a programming error. */
export function kindOf(kind: string): AnyKind {
  const found = byName.get(kind);
  if (found === undefined) throw new Error(`no job kind ${kind} in the registry`);
  return found;
}
