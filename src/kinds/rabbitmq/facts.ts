/**
 * The facts a `rabbitmq` snapshot records (stored encrypted). Every reader goes through
 * `rabbitmqFactsSchema`: facts come from the repository and are checked before use.
 */
import * as z from "zod";
import { artifactNameSchema, plainText } from "../facts-values.js";

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
  perVhost: z.record(plainText(255), vhostCountsSchema),
});

const mirroringPolicySchema = z.object({
  vhost: plainText(255),
  name: plainText(255),
  keys: z.array(plainText(255)),
  onlyMirroring: z.boolean(),
});

export const rabbitmqFactsSchema = z.object({
  kind: z.literal("rabbitmq"),
  version: z.literal(FACTS_VERSION),
  server: z.object({
    version: plainText(100).nullable(),
    product: plainText(100).nullable(),
    managementVersion: plainText(100).nullable(),
    clusterName: plainText(255).nullable(),
  }),
  artifact: artifactNameSchema,
  counts: definitionCountsSchema,
  /** Policies with classic mirroring keys (refused by RabbitMQ 4.x). */
  classicMirroring: z.array(mirroringPolicySchema),
});

export type RabbitmqFacts = z.output<typeof rabbitmqFactsSchema>;
