/**
 * The parts of the `rabbitmq` job this engine reads. Partial where the schema fills in defaults,
 * so tests can drive the engine with plain objects.
 */
import type { RabbitmqJob } from "./job-schema.js";

export type RabbitmqJobInput = Pick<RabbitmqJob, "name" | "kind" | "url" | "user"> &
  Partial<Pick<RabbitmqJob, "passwordEnv" | "passwordFile" | "tls">>;
