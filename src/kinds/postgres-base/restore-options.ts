/**
 * `backdrill restore <postgres-base job> --to /new/data/dir [--at TIME|latest]`: an absolute,
 * empty data directory, and a point in time with an explicit zone. Pure.
 */
import path from "node:path";
import { UsageError } from "../../errors.js";
import type { RestoreSpec } from "../contract.js";
import type { PostgresBaseJob } from "./job-schema.js";

export interface PostgresBaseRestoreOptions {
  /** `latest` or an ISO time; undefined: replay everything archived. */
  at: string | undefined;
}

/** `2026-11-28`, or a time with an explicit zone: `2026-11-28T02:15:00Z`, `...02:15+03:00`. */
const ISO_TIME = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2}))?$/i;

export const postgresBaseRestore: RestoreSpec<PostgresBaseJob, PostgresBaseRestoreOptions> = {
  to: "the absolute path of a new, empty PostgreSQL data directory",
  flags: [
    {
      name: "at",
      type: "string",
      describe: "point in time to recover to: an ISO time with its zone, or latest",
    },
  ],
  options({ to, flags, job }) {
    if (to === "" || !path.isAbsolute(to)) {
      throw new UsageError(
        `--to ${JSON.stringify(to)}: give the absolute path of the new data directory for ${job.name}`,
      );
    }
    const at = flags.at;
    if (typeof at === "string" && at !== "latest" && (!ISO_TIME.test(at) || Number.isNaN(Date.parse(at)))) {
      throw new UsageError(
        `--at ${JSON.stringify(at)} is not a point in time: give latest or an ISO time with its zone, like 2026-11-28T02:15:00Z`,
      );
    }
    return { at: typeof at === "string" && at !== "" ? at : undefined };
  },
};
