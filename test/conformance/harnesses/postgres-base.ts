/**
 * Conformance harness of the `postgres-base` kind: PostgreSQL 17 archiving WAL into a spool
 * directory the way the README's host install does (`cp` then `mv`), drained into the repository
 * by `backdrill wal ship --once` after each backup; drills recover to the end of the archive;
 * restores lay out fresh data directories.
 */
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { PostgresContainer } from "../../support/containers/postgres.js";
import { postgresImage } from "../../support/images.js";
import type { KindHarness, RestoreTarget } from "../kind-conformance.js";
import { pgEnv, pgJobFields } from "./postgres.js";
import { treeState } from "./tree.js";

// The README's durable spool command: the copy and its name are fsynced before PostgreSQL hears "archived".
const ARCHIVE_COMMAND =
  "test ! -f /spool/%f && cp %p /spool/.%f.tmp && sync /spool/.%f.tmp && mv /spool/.%f.tmp /spool/%f && sync /spool";
const JOB = "conformance";

export const postgresBaseHarness: KindHarness = {
  kind: "postgres-base",
  async start(work) {
    const spool = path.join(work, "spool");
    await mkdir(spool);
    // The container's postgres user (another uid) writes here.
    await chmod(spool, 0o777);
    const container = new PostgresContainer()
      .withDatabase("task")
      .withPassword("conformance-base-pw-0c7d")
      .withServerArgs(
        "-c",
        "wal_level=replica",
        "-c",
        "archive_mode=on",
        "-c",
        `archive_command=${ARCHIVE_COMMAND}`,
      );
    container.container.withBindMounts([{ source: spool, target: "/spool", mode: "rw" }]);
    const source = await container.start();
    await source.psql("CREATE TABLE events (id bigserial PRIMARY KEY, note text NOT NULL)");
    await source.psql("INSERT INTO events (note) SELECT 'row ' || g FROM generate_series(1, 500) g");
    let targets = 0;
    return {
      job: pgJobFields(source),
      env: pgEnv(source),
      wrongSecret: { env: { TASK_DB_PASSWORD: "not-the-password" }, check: "connection" },
      target: {
        image: postgresImage(),
        pitr: "latest",
        checks: {
          sql: [{ name: "rows recovered", database: "task", query: "SELECT count(*) >= 500 FROM events" }],
        },
      },
      async afterBackup(run) {
        // The segment the backup ended in reaches the archive, then the repository.
        await source.psql("SELECT pg_logical_emit_message(false, 'conformance', 'switch')");
        const name = await source.psql("SELECT pg_walfile_name(pg_switch_wal())");
        const deadline = Date.now() + 120_000;
        while ((await source.psql("SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver")) < name) {
          if (Date.now() > deadline) throw new Error(`segment ${name} was not archived within 2 minutes`);
          await new Promise((resolve) => setTimeout(resolve, 250));
        }
        const shipped = await run(["wal", "ship", JOB, spool, "--once"]);
        if (shipped.code !== 0) throw new Error(`wal ship: ${shipped.stdout}\n${shipped.stderr}`);
      },
      async restoreTarget(): Promise<RestoreTarget> {
        targets += 1;
        const dir = path.join(work, `restored-${targets}`, "data");
        return {
          to: dir,
          state: () => treeState(dir),
          occupy: async () => {
            await mkdir(dir, { recursive: true, mode: 0o700 });
            await writeFile(path.join(dir, "PG_VERSION"), "16\n");
          },
          verify: async () => {
            if ((await readFile(path.join(dir, "PG_VERSION"), "utf8")).trim() !== "17") {
              throw new Error(`${dir} holds no PostgreSQL 17 data directory`);
            }
            await readFile(path.join(dir, "recovery.signal"));
            const auto = await readFile(path.join(dir, "postgresql.auto.conf"), "utf8");
            if (!auto.includes(`wal fetch ${JOB} %f %p`))
              throw new Error("no restore_command in postgresql.auto.conf");
          },
        };
      },
      stop: () => source.stop().then(() => undefined),
    };
  },
};
