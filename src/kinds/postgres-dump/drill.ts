/**
 * Drill of a postgres-dump snapshot: start a throwaway server of the target's image, restore the
 * globals and every database with the job's own client tools (the ones an operator would use for
 * a real restore, and of a major that can read the archive), then check the result against the
 * facts recorded at backup time.
 *
 * A restore error does not abort the drill: it fails the "restore" check (with pg_restore's
 * messages), and the remaining checks still run, because a row-count diff is the quickest way to
 * see what a failed restore cost. Only an unusable sandbox (image missing, server not starting)
 * throws.
 *
 * Phases (timed by the runner): sandbox = the server starting; restore = globals and every
 * database (artifacts are fetched, verified and decrypted while they stream into pg_restore, so
 * that is restore time); checks = the comparison with the facts.
 */
import { requireDrillImage } from "../../docker/container.js";
import { inJob, OperationError } from "../../errors.js";
import type { CheckResult, DrillContext, DrillPhases } from "../contract.js";
import {
  compareChecksums,
  compareExtensions,
  compareRowCounts,
  compareSequences,
  inspectRestored,
  runAmcheck,
  runSqlAssertion,
  type RestoredDatabase,
} from "./checks.js";
import type { PgDumpFacts } from "./facts.js";
import { createDatabase, loadDatabase, readGlobals, restoreGlobals } from "./load.js";
import {
  POSTGRES_PORT,
  psqlInSandbox,
  SANDBOX_PORT,
  SANDBOX_SUPERUSER,
  startSandbox,
  type Sandbox,
} from "./sandbox.js";
import { requireArtifacts } from "../facts-values.js";
import { PgTools } from "../postgres/tools.js";
import type { PostgresDumpTarget } from "./target.js";
import type { PgDumpJobInput } from "./types.js";

export function drillPostgresDump(
  context: DrillContext<PgDumpJobInput, PostgresDumpTarget, PgDumpFacts>,
): DrillPhases {
  const { job, target, log, signal, scope, facts } = context;
  const image = requireDrillImage(target, job.name, "pgvector/pgvector:pg17");
  const pull = target.pull ?? "never";
  // Every artifact the facts name must be in this very snapshot (a swapped or forged one is not).
  requireArtifacts(context.artifacts, [
    ...(facts.globalsArtifact === null ? [] : [{ name: facts.globalsArtifact, field: "globalsArtifact" }]),
    ...facts.databases.map((db, index) => ({ name: db.artifact, field: `databases.${index}.artifact` })),
  ]);
  const checks = target.checks ?? {};
  let sandbox: Sandbox | undefined;
  let tools: PgTools | undefined;
  let globalsSql: { sql: string; skipped: number } | null = null;
  const restoredNames: string[] = [];

  return {
    async sandbox() {
      // The globals are SQL for psql: checked before anything starts, so a snapshot whose globals
      // hold anything else (psql meta-commands) fails the target without a container.
      if (facts.globalsArtifact !== null) {
        globalsSql = await readGlobals(context.artifacts, facts.globalsArtifact, SANDBOX_SUPERUSER, signal);
      }
      sandbox = await startSandbox(image, scope, signal, pull, context.stack).catch((error: unknown) => {
        throw inJob(`job ${job.name}`, error);
      });
      // The job's own client tools, as a real restore would use them; a tools.image container
      // joins the sandbox's network only (not the host's), so all it can reach is the sandbox.
      tools = new PgTools(job.tools, scope, context.configDir, {
        pull,
        sandbox: { containerId: sandbox.containerId, port: SANDBOX_PORT },
      });
      log.info({ job: job.name, image }, "postgres-dump drill: sandbox up");
    },

    async restore() {
      if (sandbox === undefined || tools === undefined) {
        throw new OperationError("postgres-dump drill: restore before sandbox");
      }
      const endpoint = sandbox.endpoint;
      const problems: string[] = [];
      const notes: string[] = [];
      let toolsOk = true;
      try {
        await tools.requireMajor(
          "pg_restore",
          facts.pgDumpMajor,
          `the archive (written by pg_dump ${facts.pgDumpVersion})`,
          signal,
        );
      } catch (error) {
        toolsOk = false;
        problems.push(error instanceof Error ? error.message : String(error));
      }
      if (toolsOk && facts.globalsArtifact !== null) {
        try {
          // psql runs inside the sandbox container, never on the drill host: even SQL that is
          // let through can only act on the throwaway server.
          const globals =
            globalsSql === null
              ? { errors: [], tolerated: [] }
              : await restoreGlobals(psqlInSandbox(sandbox, signal), globalsSql, facts.globalsArtifact);
          problems.push(...globals.errors.map((error) => `${facts.globalsArtifact}: ${error}`));
          if (globals.tolerated.length > 0) notes.push(`ignored: ${globals.tolerated.join("; ")}`);
        } catch (error) {
          problems.push(
            `${facts.globalsArtifact}: ${error instanceof Error ? error.message : String(error)}`,
          );
        }
      }
      if (!facts.rolePasswords && facts.globalsArtifact !== null) {
        notes.push("roles were backed up without passwords (backup user not a superuser)");
      }
      if (toolsOk) {
        for (const database of facts.databases) {
          signal.throwIfAborted();
          const started = Date.now();
          try {
            await createDatabase(endpoint, database.name, database);
            restoredNames.push(database.name);
            await loadDatabase(tools, endpoint, database.name, context.artifacts, database.artifact, {
              format: facts.format,
              jobs: job.parallel ?? 1,
              noOwner: facts.globalsArtifact === null,
              signal,
              scope,
            });
            log.info(
              { job: job.name, database: database.name, ms: Date.now() - started },
              "postgres-dump drill: restored",
            );
          } catch (error) {
            signal.throwIfAborted();
            problems.push(
              `database ${database.name}: ${error instanceof Error ? error.message : String(error)}`,
            );
          }
        }
      }
      return [
        {
          name: "restore",
          ok: problems.length === 0,
          detail:
            problems.length === 0
              ? `${facts.globalsArtifact === null ? "" : "globals and "}${facts.databases.length} database(s) restored cleanly` +
                (notes.length > 0 ? ` (${notes.join("; ")})` : "")
              : problems.join("\n"),
        },
      ];
    },

    async checks() {
      if (sandbox === undefined || tools === undefined) {
        throw new OperationError("postgres-dump drill: checks before sandbox");
      }
      const endpoint = sandbox.endpoint;
      const results: CheckResult[] = [];
      const wantRowCounts = checks.rowCounts ?? true;
      const wantChecksums = checks.checksums ?? true;
      const restored: RestoredDatabase[] = [];
      if (wantRowCounts || wantChecksums || (checks.extensions?.length ?? 0) > 0) {
        for (const database of facts.databases) {
          restored.push(await inspectRestored(endpoint, database, { checksums: wantChecksums }));
        }
      }
      if (wantRowCounts) {
        results.push(compareRowCounts(facts, restored));
        results.push(compareSequences(facts, restored));
      }
      if (wantChecksums) results.push(compareChecksums(facts, restored));
      if ((checks.extensions?.length ?? 0) > 0)
        results.push(compareExtensions(facts, restored, checks.extensions ?? []));
      if (checks.amcheck ?? true) results.push(await runAmcheck(tools, endpoint, restoredNames, signal));
      for (const assertion of checks.sql ?? []) results.push(await runSqlAssertion(endpoint, assertion));
      return results;
    },

    stack() {
      if (sandbox === undefined) throw new OperationError("postgres-dump drill: stack before sandbox");
      // The sandbox's own superuser; the restored roles keep their passwords (globals), so an
      // application logs in with its production credentials as it would after a real restore.
      return {
        port: POSTGRES_PORT,
        env: {
          USER: sandbox.endpoint.user,
          PASSWORD: sandbox.endpoint.password ?? "",
          DATABASE: "postgres",
          DATABASES: facts.databases.map((database) => database.name).join(" "),
        },
        files: [],
        volume: null,
      };
    },

    details() {
      const tables = facts.databases.reduce((sum, db) => sum + db.tables.length, 0);
      const rows = facts.databases.reduce((sum, db) => sum + db.tables.reduce((n, t) => n + t.rows, 0), 0);
      const plainBytes = context.artifacts.snapshot.artifacts.reduce((sum, a) => sum + (a.plainSize ?? 0), 0);
      return {
        image,
        serverVersion: facts.server.version,
        databases: facts.databases.length,
        tables,
        rows,
        plainBytes,
        format: facts.format,
        rolePasswords: facts.rolePasswords,
      };
    },
  };
}
