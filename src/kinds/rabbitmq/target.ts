/** A drill target of a `rabbitmq` job: its own check, and the broker image it restores into. */
import * as z from "zod";
import type { TargetOf, TargetSpec } from "../contract.js";
import type { RabbitmqJob } from "./job-schema.js";

const fields = {};
const checks = {
  stripClassicMirroring: z.boolean().meta({
    description: "rabbitmq: drop 3.x ha-* policy keys before import (4.x rejects them). Default: true.",
  }),
};

export type RabbitmqTarget = TargetOf<typeof fields, typeof checks>;

export const rabbitmqTarget: TargetSpec<RabbitmqJob, RabbitmqTarget> = {
  fields,
  checks,
  image: { example: "rabbitmq:4-management" },
  validate: () => [],
};
