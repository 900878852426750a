/** The `rabbitmq` engine, loaded on first use (HTTP clients, containers): see index.ts. */
import type { KindEngine } from "../contract.js";
import { backupRabbitmq } from "./backup.js";
import { drillRabbitmq } from "./drill.js";
import type { RabbitmqFacts } from "./facts.js";
import type { RabbitmqJob } from "./job-schema.js";
import { applyRabbitmqRestore, planRabbitmqRestore, type RabbitmqRestorePlan } from "./restore.js";
import type { RabbitmqRestoreOptions } from "./restore-options.js";
import type { RabbitmqTarget } from "./target.js";

export const rabbitmqEngine: KindEngine<
  RabbitmqJob,
  RabbitmqTarget,
  RabbitmqFacts,
  RabbitmqRestoreOptions,
  RabbitmqRestorePlan
> = {
  backup: backupRabbitmq,
  drill: drillRabbitmq,
  planRestore: planRabbitmqRestore,
  applyRestore: applyRabbitmqRestore,
};
