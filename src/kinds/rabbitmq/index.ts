/**
 * The `rabbitmq` engine: definitions exported from the management API, drilled by importing them
 * into a throwaway broker and comparing the re-export, restored by importing into a live broker.
 */
import type { DrillTarget } from "../../config/drill-schema.js";
import type { RabbitmqJob } from "./job-schema.js";
import type { Engine } from "../engine.js";
import { backupRabbitmq } from "./backup.js";
import { drillRabbitmq } from "./drill.js";
import { planRabbitmqRestore, restoreRabbitmq } from "./restore.js";

export const rabbitmqEngine: Engine<RabbitmqJob, DrillTarget> = {
  kind: "rabbitmq",
  backup: backupRabbitmq,
  drill: drillRabbitmq,
  planRestore: planRabbitmqRestore,
  restore: restoreRabbitmq,
};
