import type { Job, JobKind } from "./registry-jobs.js";
import type { DrillTarget } from "../config/drill-schema.js";
import { NotImplementedError } from "../errors.js";
import type { Engine } from "./engine.js";

type EngineFor<K extends JobKind> = Engine<Extract<Job, { kind: K }>, DrillTarget>;
type EngineLoader<K extends JobKind> = () => Promise<EngineFor<K>>;

/**
 * Job kind → engine. Engines load lazily so `backdrill validate` does not pay for drivers it does
 * not use. A kind without an engine yet fails with exit 2 and says so.
 */
const loaders: { [K in JobKind]?: EngineLoader<K> } = {
  "postgres-dump": async () => (await import("./postgres-dump/index.js")).postgresDumpEngine,
  "postgres-base": async () => (await import("./postgres-base/index.js")).postgresBaseEngine,
  files: async () => (await import("./files/index.js")).filesEngine,
  "s3-bucket": async () => (await import("./s3-bucket/index.js")).s3BucketEngine,
  rabbitmq: async () => (await import("./rabbitmq/index.js")).rabbitmqEngine,
  "symfony-secrets": async () => (await import("./symfony-secrets/index.js")).symfonySecretsEngine,
};

export async function engineFor<K extends JobKind>(kind: K): Promise<EngineFor<K>> {
  const loader = loaders[kind] as EngineLoader<K> | undefined;
  if (loader === undefined) {
    throw new NotImplementedError(`job kind ${kind} has no backup engine yet in this version`, {
      hint: "see CHANGELOG.md for the job kinds this version supports",
    });
  }
  return loader();
}

export function hasEngine(kind: JobKind): boolean {
  return loaders[kind] !== undefined;
}
