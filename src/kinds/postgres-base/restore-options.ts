/**
 * `backdrill restore <postgres-base job> --to /new/data/dir [--at TIME|latest] [--prefetch N]`:
 * an absolute, empty data directory, a point in time with an explicit zone, and how many WAL
 * segments restore_command fetches ahead. Pure.
 */
import path from "node:path";
import { UsageError } from "../../errors.js";
import type { RestoreSpec } from "../contract.js";
import type { PostgresBaseJob } from "./job-schema.js";
import { DEFAULT_PREFETCH, MAX_PREFETCH } from "./prefetch.js";

export interface PostgresBaseRestoreOptions {
  /** `latest` or an ISO time; undefined: replay everything archived. */
  at: string | undefined;
  /** Segments `wal fetch` fetches ahead during recovery (restore-command.ts, prefetch.ts); 0: none. */
  prefetch: number;
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
    {
      name: "prefetch",
      type: "string",
      describe: `WAL segments restore_command fetches ahead during recovery, 0 to ${MAX_PREFETCH} (default ${DEFAULT_PREFETCH}; 0: one backdrill start per segment)`,
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
    const prefetch = flags.prefetch;
    if (
      prefetch !== undefined &&
      (typeof prefetch !== "string" || !/^\d+$/.test(prefetch) || Number(prefetch) > MAX_PREFETCH)
    ) {
      throw new UsageError(
        `--prefetch ${JSON.stringify(prefetch)}: give a whole number of WAL segments from 0 to ${MAX_PREFETCH}`,
      );
    }
    return {
      at: typeof at === "string" && at !== "" ? at : undefined,
      prefetch: prefetch === undefined ? DEFAULT_PREFETCH : Number(prefetch),
    };
  },
};
