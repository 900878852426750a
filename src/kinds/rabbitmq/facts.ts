/**
 * The facts a `rabbitmq` snapshot records (stored encrypted). Every reader goes through
 * `rabbitmqFactsSchema`: facts come from the repository and are checked before use.
 */
import * as z from "zod";

export const DEFINITIONS_ARTIFACT = "definitions.json";
export const FACTS_VERSION = 1;

const count = z.number().int().nonnegative();

const vhostCountsSchema = z.object({
  queues: count,
  exchanges: count,
  bindings: count,
  policies: count,
  operatorPolicies: count,
  parameters: count,
  permissions: count,
  topicPermissions: count,
});

export const definitionCountsSchema = z.object({
  users: count,
  vhosts: count,
  globalParameters: count,
  perVhost: z.record(z.string(), vhostCountsSchema),
});

const mirroringPolicySchema = z.object({
  vhost: z.string(),
  name: z.string(),
  keys: z.array(z.string()),
  onlyMirroring: z.boolean(),
});

export const rabbitmqFactsSchema = z.object({
  kind: z.literal("rabbitmq"),
  version: z.literal(FACTS_VERSION),
  server: z.object({
    version: z.string().nullable(),
    product: z.string().nullable(),
    managementVersion: z.string().nullable(),
    clusterName: z.string().nullable(),
  }),
  artifact: z.string().min(1),
  counts: definitionCountsSchema,
  /** Policies with classic mirroring keys (refused by RabbitMQ 4.x). */
  classicMirroring: z.array(mirroringPolicySchema),
});

export type RabbitmqFacts = z.output<typeof rabbitmqFactsSchema>;
