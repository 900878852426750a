/** A drill target of a `files` job: its own check (`sample`), and the image it restores into. */
import { sampleCheckSchema } from "../../schema/drill-checks.js";
import type { TargetOf, TargetSpec } from "../contract.js";
import type { FilesJob } from "./job-schema.js";

const fields = {};
const checks = { sample: sampleCheckSchema };

export type FilesTarget = TargetOf<typeof fields, typeof checks>;

export const filesTarget: TargetSpec<FilesJob, FilesTarget> = {
  fields,
  checks,
  image: { example: "backdrill/sshd-rsync" },
  validate: () => [],
};
