/**
 * The `rabbitmq` kind: broker definitions exported from the management API (backup.ts), drilled
 * by importing them into a throwaway broker and comparing the re-export (drill.ts), restored into
 * a fresh broker (restore.ts). Messages are not backed up.
 */
import { defineKind } from "../contract.js";
import { describeRabbitmqJob, rabbitmqSecrets } from "./config.js";
import { rabbitmqFactsSchema } from "./facts.js";
import { rabbitmqJobSchema } from "./job-schema.js";
import { rabbitmqRestore } from "./restore-options.js";
import { rabbitmqTarget } from "./target.js";

export const rabbitmqKind = defineKind({
  kind: "rabbitmq",
  summary: "RabbitMQ definitions (users, vhosts, permissions, policies, queues, exchanges, bindings)",
  jobSchema: rabbitmqJobSchema,
  target: rabbitmqTarget,
  factsSchema: rabbitmqFactsSchema,
  restore: rabbitmqRestore,
  describe: describeRabbitmqJob,
  secrets: rabbitmqSecrets,
  checkPolicy: () => [],
  usesDocker: () => false,
  doctor: async (context, source) => (await import("./doctor.js")).rabbitmqDoctor(context, source),
  drillDoctor: async () => [],
  retention: null,
  archive: null,
  engine: async () => (await import("./engine.js")).rabbitmqEngine,
});
