/** Drill checks both PostgreSQL kinds take (the registry merges them; the schema objects are shared). */
import * as z from "zod";
import { nonEmptyString } from "../../schema/common.js";

export const sqlCheckSchema = z.strictObject({
  name: nonEmptyString.meta({ description: "Shown in the report." }),
  database: nonEmptyString,
  query: nonEmptyString.meta({ description: "Must return one row whose first column is true." }),
});

export type SqlCheck = z.infer<typeof sqlCheckSchema>;

export const postgresChecks = {
  amcheck: z.boolean().meta({ description: "PostgreSQL: run pg_amcheck. Default: true." }),
  extensions: z
    .array(nonEmptyString)
    .meta({ description: "PostgreSQL: extensions that must be installed, e.g. [vector]." }),
  sql: z.array(sqlCheckSchema).meta({ description: "PostgreSQL: SQL assertions." }),
};
