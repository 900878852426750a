/**
 * `doctor --switch-wal`: the end-to-end proof that archiving works today. Reading settings and
 * pg_stat_archiver says archive_command succeeded; only a segment that shows up in this job's
 * repository says the WAL lands where a restore will look for it (not another job, not a spool
 * nobody drains). Opt-in because it writes: a commit record (so the switch has something to
 * close) and pg_switch_wal(), which needs superuser or `GRANT EXECUTE ON FUNCTION
 * pg_switch_wal() TO <user>`.
 *
 * The segment to wait for: pg_walfile_name(pg_switch_wal()) names the segment the switch closed
 * (the switch record's end lies in it). Waiting polls the repository's record of that name, up to
 * WAIT_MS; the check's own bound is above it so the result is ours, not a generic timeout.
 */
import type { Finding } from "../../preflight/report.js";
import { fail, ok, warn } from "../../preflight/runner.js";
import { connectClient, describeEndpoint, errorText, type PgEndpoint } from "../postgres/connection.js";
import { parseWalFileName } from "./wal-name.js";
import type { WalArchive } from "./wal-archive.js";

export const WAIT_MS = 90_000;
const POLL_MS = 1_000;

export async function switchWalAndWait(
  endpoint: PgEndpoint,
  archive: WalArchive,
  options: { signal: AbortSignal; spool: string | undefined; waitMs?: number },
): Promise<Finding> {
  const client = await connectClient(endpoint, endpoint.database);
  let segment: string;
  try {
    // A transaction with an xid writes a commit record: an idle segment has nothing to switch.
    await client.query("BEGIN");
    await client.query("SELECT pg_current_xact_id()");
    await client.query("COMMIT");
    let row: { name?: unknown } | undefined;
    try {
      row = (await client.query<{ name: unknown }>("SELECT pg_walfile_name(pg_switch_wal()) AS name"))
        .rows[0];
    } catch (error) {
      return warn(
        `cannot force a WAL switch as ${describeEndpoint(endpoint)}: ${errorText(error)}`,
        "run doctor --switch-wal as a superuser, or GRANT EXECUTE ON FUNCTION pg_switch_wal() TO <the job's user>",
      );
    }
    const name = typeof row?.name === "string" ? row.name : "";
    // The name comes from the server: checked before it becomes a repository key.
    if (parseWalFileName(name)?.kind !== "segment") {
      return fail(`pg_switch_wal() returned an unexpected segment name ${JSON.stringify(name)}`);
    }
    segment = name;
  } finally {
    await client.end().catch(() => undefined);
  }
  const started = Date.now();
  const waitMs = options.waitMs ?? WAIT_MS;
  for (;;) {
    if ((await archive.digest(segment)) !== null && (await archive.has(segment))) {
      return ok(
        `switched WAL: ${segment} reached the repository in ${((Date.now() - started) / 1000).toFixed(1)} s`,
      );
    }
    if (Date.now() - started > waitMs || options.signal.aborted) {
      return fail(
        `switched WAL: ${segment} did not reach the repository within ${Math.round(waitMs / 1000)} s`,
        options.spool === undefined
          ? "check archive_command (doctor's archive_command and archiver checks) and the PostgreSQL log"
          : `archive_command writes into the spool ${options.spool}: is backdrill wal ship running (backdrill cron writes its unit)?`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}
