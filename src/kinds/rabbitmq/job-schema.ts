/** `rabbitmq`: broker definitions exported from the management API. */
import * as z from "zod";
import {
  absolutePathSchema,
  envNameSchema,
  EVEN_WITH_FIELD_ERRORS,
  httpUrlSchema,
  nonEmptyString,
  requireOneOf,
} from "../../schema/common.js";
import { jobBaseShape } from "../../schema/job-base.js";

export const rabbitmqJobSchema = z
  .strictObject({
    ...jobBaseShape,
    kind: z.literal("rabbitmq"),
    url: httpUrlSchema("user plus passwordEnv or passwordFile").meta({
      description: "Management API base URL, e.g. http://127.0.0.1:15672.",
    }),
    user: nonEmptyString,
    passwordEnv: envNameSchema.optional(),
    passwordFile: absolutePathSchema.optional(),
    tls: z
      .strictObject({
        caFile: absolutePathSchema
          .optional()
          .meta({ description: "CA bundle that signed the management certificate." }),
        insecure: z
          .boolean()
          .default(false)
          .meta({ description: "Skip certificate verification (testing only)." }),
      })
      .optional(),
  })
  .superRefine((value, ctx) => {
    requireOneOf(value, ["passwordEnv", "passwordFile"], ctx, { why: "the management user's password" });
    if (value.tls !== undefined && typeof value.url === "string" && value.url.startsWith("http:")) {
      ctx.addIssue({
        code: "custom",
        path: ["tls"],
        message: "tls settings need an https:// url; change url to https:// or remove tls",
      });
    }
  }, EVEN_WITH_FIELD_ERRORS);

export type RabbitmqJob = z.infer<typeof rabbitmqJobSchema>;
