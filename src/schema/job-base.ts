/** Fields every job has, whatever its kind. */
import * as z from "zod";
import { descriptionSchema, nameSchema, nonEmptyString } from "./common.js";

export const jobBaseShape = {
  name: nameSchema,
  description: descriptionSchema,
  policy: nonEmptyString.meta({ description: "Name of the policy (policies/<name>.yaml) this job follows." }),
};

export const databaseNameSchema = z.string().min(1);
