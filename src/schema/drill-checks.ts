/**
 * Drill checks that more than one kind takes. The registry merges every kind's `checks:` keys
 * into one schema, and a key two kinds share must be the same schema object: these.
 */
import * as z from "zod";

export const sampleCheckSchema = z
  .number()
  .int()
  .min(1)
  .meta({ description: "Check this many random files or objects instead of all of them. Default: all." });
