/**
 * The parts of the `rabbitmq` job and drill target this engine reads, and the facts it records.
 * Partial where the schema fills in defaults, so tests can drive the engine with plain objects.
 */
import type { DrillTarget } from "../../config/drill-schema.js";
import type { RabbitmqJob } from "./job-schema.js";
import { OperationError } from "../../errors.js";
import type { DefinitionCounts, MirroringPolicy } from "./definitions.js";

export type RabbitmqJobInput = Pick<RabbitmqJob, "name" | "kind" | "url" | "user"> &
  Partial<Pick<RabbitmqJob, "passwordEnv" | "passwordFile" | "tls">>;

export type RabbitmqDrillTargetInput = Pick<DrillTarget, "job" | "image" | "checks">;

export const DEFINITIONS_ARTIFACT = "definitions.json";
export const FACTS_VERSION = 1;

export interface RabbitmqFacts {
  kind: "rabbitmq";
  version: number;
  server: {
    version: string | null;
    product: string | null;
    managementVersion: string | null;
    clusterName: string | null;
  };
  artifact: string;
  counts: DefinitionCounts;
  /** Policies with classic mirroring keys (refused by RabbitMQ 4.x). */
  classicMirroring: MirroringPolicy[];
}

export function parseFacts(raw: Record<string, unknown>, where: string): RabbitmqFacts {
  if (raw.kind !== "rabbitmq" || typeof raw.artifact !== "string" || typeof raw.counts !== "object") {
    throw new OperationError(`${where}: the snapshot's facts are not those of a rabbitmq backup`);
  }
  return raw as unknown as RabbitmqFacts;
}
