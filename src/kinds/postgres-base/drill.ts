/**
 * Point-in-time recovery drill: restore the base backup into a throwaway container of the target
 * image, replay archived WAL to the target, promote, check. Phases (timed by the runner):
 * sandbox = the archive listed, the recovery target chosen, the container started (idle);
 * restore = WAL decrypted, base backup and WAL copied in, replay until promotion; checks.
 *
 * How the container reaches the archive: the WAL it may need (every archived segment after the
 * backup on the timelines recovery follows, plus history files) is decrypted on the drill host
 * into a 0700 temp dir owned by the operation's scope, copied into the container, and the
 * restore_command is the restore's line (restore-command.ts) with a plain `cp` from there as
 * its fallback. The container therefore needs neither backdrill,
 * nor the identity, nor access to the repository; the cost is that WAL is fetched up front
 * (reported as `walFetchMs`) instead of on demand.
 *
 * The container starts with a small shell wrapper that waits until the data directory and WAL are
 * copied in (it exists, and is owned by the scope, before any byte is copied), then hands over to
 * the image's own entrypoint, which fixes ownership and starts PostgreSQL on the restored data.
 * Overrides on the command line: our own pg_hba (local trust: we log in over the Unix socket as
 * the cluster's bootstrap superuser, recorded in the facts), archive_mode=off (the restored
 * cluster must never archive into production's archive), and the recovery settings.
 */
import path from "node:path";
import type { StartedTestContainer } from "testcontainers";
import { makePrivateTempDir } from "../../fs/private-temp-dir.js";
import { requireDrillImage, startDrillContainer } from "../../docker/container.js";
import { IntegrityError, OperationError, UsageError } from "../../errors.js";
import { run } from "../../exec/process.js";
import type { CheckResult, DrillContext, DrillPhases } from "../contract.js";
import { packDirectory } from "../postgres/tar.js";
import { checkContinuity, describeContinuity, followedTimelines } from "./continuity.js";
import {
  describeTarget,
  parsePgTimestamp,
  parseRecoveryLog,
  recoverySettings,
  resolveTarget,
  type RecoveryTarget,
} from "./recovery.js";
import { checkAgainstManifest, type BaseBackupFacts } from "./facts.js";
import { requireArtifacts } from "../facts-values.js";
import type { PostgresBaseTarget } from "./target.js";
import { BASE_ARTIFACT, type PgBaseJobInput } from "./types.js";
import type { ArchivedWal } from "./wal-archive.js";
import {
  DEFAULT_WAL_SEGMENT_SIZE,
  lsnSegment,
  parseLsn,
  parseWalFileName,
  segmentNumber,
} from "./wal-name.js";
import { walSourceFor } from "./wal-source.js";
import { DEST_PATH, FILE_NAME, restoreCommandLine } from "./restore-command.js";
import { describeChain, loadChain } from "./chain-restore.js";
import type { SnapshotManifest } from "../../repository/manifest.js";

const PGDATA = "/var/lib/postgresql/backdrill-restore";
const WAL_DIR = "/var/lib/postgresql/backdrill-wal";
/** Where the links of an incremental chain are unpacked before pg_combinebackup writes PGDATA. */
const CHAIN_DIR = "/var/lib/postgresql/backdrill-chain";
const HBA_FILE = "/etc/backdrill-pg_hba.conf";
const GO_FILE = "/tmp/backdrill-go";
const POLL_MS = 1000;
const DEFAULT_REPLAY_TIMEOUT_MS = 6 * 60 * 60 * 1000;

/** What the manifest meta of a postgres-base snapshot must hold. */
export interface BaseMeta {
  startLsn: string;
  stopLsn: string;
  timeline: number;
  startWalFile: string;
  stopTime: string;
  walSegmentSize: number;
}

const LSN = /^[0-9A-F]{1,8}\/[0-9A-F]{1,8}$/i;

/**
 * The manifest meta is plaintext in the repository: every value is checked for its shape before
 * it reaches recovery settings (postgresql.auto.conf, `-c` arguments) or WAL arithmetic.
 */
export function readBaseMeta(meta: Record<string, unknown>, snapshot: string): BaseMeta {
  const { startLsn, stopLsn, timeline, startWalFile, stopTime, walSegmentSize } = meta;
  if (
    typeof startLsn !== "string" ||
    typeof stopLsn !== "string" ||
    typeof timeline !== "number" ||
    typeof startWalFile !== "string" ||
    typeof stopTime !== "string"
  ) {
    throw new UsageError(
      `snapshot ${snapshot} is not a postgres-base snapshot (its manifest has no start/stop LSN)`,
    );
  }
  if (
    !LSN.test(startLsn) ||
    !LSN.test(stopLsn) ||
    !Number.isInteger(timeline) ||
    timeline < 1 ||
    parseWalFileName(startWalFile)?.kind !== "segment" ||
    !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z$/.test(stopTime) ||
    Number.isNaN(Date.parse(stopTime)) ||
    (walSegmentSize !== undefined &&
      walSegmentSize !== null &&
      (typeof walSegmentSize !== "number" ||
        !Number.isInteger(walSegmentSize) ||
        walSegmentSize < 1 << 20 ||
        walSegmentSize > 1 << 30))
  ) {
    throw new IntegrityError(
      `snapshot ${snapshot}: its manifest's start/stop LSN, timeline, WAL file or stop time are not what a base backup records; refusing to use it`,
      { hint: "the manifest was altered in the repository: restore another snapshot" },
    );
  }
  return {
    startLsn,
    stopLsn,
    timeline,
    startWalFile,
    stopTime,
    walSegmentSize: typeof walSegmentSize === "number" ? walSegmentSize : DEFAULT_WAL_SEGMENT_SIZE,
  };
}

/** The backup's last segment number (inside the base backup). */
export function stopSegmentOf(meta: BaseMeta): number {
  return lsnSegment(Math.max(parseLsn(meta.stopLsn) - 1, parseLsn(meta.startLsn)), meta.walSegmentSize);
}

/** Archived files recovery may ask for: history files, and segments after the backup on followed timelines. */
export function walNeeded(archived: readonly ArchivedWal[], meta: BaseMeta): ArchivedWal[] {
  const timelines = followedTimelines(archived, meta.timeline);
  const stop = stopSegmentOf(meta);
  return archived.filter(
    (file) =>
      file.kind === "history" ||
      (file.kind === "segment" &&
        timelines.includes(file.timeline) &&
        segmentNumber(file, meta.walSegmentSize) > stop),
  );
}

function newestSegmentStartLsn(archived: readonly ArchivedWal[], meta: BaseMeta): number | null {
  const timelines = followedTimelines(archived, meta.timeline);
  const segments = archived
    .filter((file) => file.kind === "segment" && timelines.includes(file.timeline))
    .map((file) => segmentNumber(file, meta.walSegmentSize));
  if (segments.length === 0) return null;
  return Math.max(...segments) * meta.walSegmentSize;
}

/**
 * The container's entrypoint. In a stack drill the restored server also listens on the stack's
 * network for the smoke test, which logs in with the restored roles' own passwords (md5 also
 * accepts SCRAM verifiers); backdrill itself keeps to the Unix socket.
 */
function wrapper(networked: boolean): string {
  const hba = networked ? "local all all trust\\nhost all all all md5\\n" : "local all all trust\\n";
  return [
    "set -e",
    `mkdir -p "$PGDATA" ${WAL_DIR}`,
    `printf '${hba}' > ${HBA_FILE}`,
    `while [ ! -e ${GO_FILE} ]; do sleep 0.2; done`,
    `chown -R postgres:postgres ${WAL_DIR} 2>/dev/null || true`,
    'exec docker-entrypoint.sh postgres "$@"',
  ].join("\n");
}

/** Where the restored server listens in a stack drill. */
const POSTGRES_PORT = 5432;

async function exec(container: StartedTestContainer, command: string[], user?: string) {
  return container.exec(command, user === undefined ? {} : { user });
}

async function containerLog(id: string): Promise<string> {
  const result = await run("docker", ["logs", id], { okExitCodes: [0, 1] }).catch(() => undefined);
  return result === undefined ? "" : `${result.stdout}\n${result.stderr}`;
}

async function isRunning(id: string): Promise<boolean> {
  const result = await run("docker", ["inspect", "-f", "{{.State.Running}}", id], {
    okExitCodes: [0, 1],
  }).catch(() => undefined);
  return result?.stdout.trim() === "true";
}

async function psql(container: StartedTestContainer, superuser: string, database: string, sql: string) {
  const result = await exec(
    container,
    ["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-U", superuser, "-d", database, "-c", sql],
    "postgres",
  );
  return { ok: result.exitCode === 0, out: result.stdout.trim(), err: result.stderr.trim() };
}

/**
 * Unpacks each link of the chain into its own directory in the drill container and combines them
 * into PGDATA with the image's pg_combinebackup: the plaintext never lands on the drill host, and
 * the drill proves the chain restores with the tools of the version it runs. The links are removed
 * before recovery starts.
 */
async function combineInContainer(
  container: StartedTestContainer,
  context: DrillContext<PgBaseJobInput, PostgresBaseTarget, BaseBackupFacts>,
  chain: readonly SnapshotManifest[],
  signal: AbortSignal,
): Promise<void> {
  const dirs = chain.map((_, index) => `${CHAIN_DIR}/${index}`);
  const made = await exec(container, ["mkdir", "-p", ...dirs]);
  if (made.exitCode !== 0)
    throw new OperationError(`cannot prepare the drill container: ${made.output.trim()}`);
  for (const [index, link] of chain.entries()) {
    signal.throwIfAborted();
    const input = await context.repository.openArtifact(link, BASE_ARTIFACT, [...context.identities], {
      signal,
    });
    await container.copyArchiveToContainer(input, dirs[index] ?? CHAIN_DIR);
  }
  const combined = await exec(container, ["pg_combinebackup", "-o", PGDATA, ...dirs]);
  await exec(container, ["rm", "-rf", CHAIN_DIR]);
  if (combined.exitCode !== 0) {
    throw new OperationError(
      `pg_combinebackup in the drill container could not combine ${describeChain(chain)}: ${combined.output.trim()}`,
    );
  }
}

/** Polls until the server is out of recovery, the container dies, or the time runs out. */
async function waitForPromotion(
  container: StartedTestContainer,
  superuser: string,
  signal: AbortSignal,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    signal.throwIfAborted();
    if (!(await isRunning(container.getId()))) {
      const log = parseRecoveryLog(await containerLog(container.getId()));
      throw new OperationError(
        `the restored server stopped during recovery: ${log.fatal.slice(-3).join(" | ") || "see its log"}`,
      );
    }
    const state = await psql(container, superuser, "postgres", "SELECT pg_is_in_recovery()").catch(
      () => undefined,
    );
    if (state?.ok === true && state.out === "f") return;
    if (Date.now() > deadline) {
      throw new OperationError(`recovery did not finish within ${Math.round(timeoutMs / 60000)} minutes`);
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

function targetCheck(
  target: RecoveryTarget,
  log: ReturnType<typeof parseRecoveryLog>,
  baseTimeline: number,
  timeline: number,
): CheckResult {
  const promotedDetail = `promoted to timeline ${timeline} (backup timeline ${baseTimeline})`;
  if (timeline <= baseTimeline) {
    return {
      name: "recovery reached target and promoted",
      ok: false,
      detail: `still on timeline ${timeline}`,
    };
  }
  if (target.kind === "latest") {
    return {
      name: "recovery reached target and promoted",
      ok: true,
      detail: `replayed all archived WAL; ${promotedDetail}`,
    };
  }
  if (log.stopLine === undefined) {
    return {
      name: "recovery reached target and promoted",
      ok: false,
      detail: `no "recovery stopping" line for ${describeTarget(target)}: the target was not reached; ${promotedDetail}`,
    };
  }
  return {
    name: "recovery reached target and promoted",
    ok: true,
    detail: `${log.stopLine}; ${promotedDetail}`,
  };
}

function endVsTargetCheck(
  target: RecoveryTarget,
  log: ReturnType<typeof parseRecoveryLog>,
): CheckResult | undefined {
  if (target.kind !== "time" || log.lastTransactionTime === undefined) return undefined;
  const last = parsePgTimestamp(log.lastTransactionTime);
  const goal = Date.parse(target.time);
  const ok = !Number.isNaN(last) && last <= goal;
  const lagMs = goal - last;
  return {
    name: "recovery end vs target",
    ok,
    detail: ok
      ? `last replayed commit at ${new Date(last).toISOString()}, ${(lagMs / 1000).toFixed(3)} s before the target ${target.time}`
      : `last replayed commit at ${log.lastTransactionTime} is after the target ${target.time}`,
  };
}

export function drillPostgresBase(
  context: DrillContext<PgBaseJobInput, PostgresBaseTarget, BaseBackupFacts>,
): DrillPhases {
  const { job, target, log, signal, scope, facts } = context;
  const image = requireDrillImage(target, job.name, "pgvector/pgvector:pg17");
  const snapshot = context.artifacts.snapshot;
  const meta = readBaseMeta(snapshot.meta, snapshot.id);
  checkAgainstManifest(facts, context.artifacts, meta);
  requireArtifacts(context.artifacts, [{ name: BASE_ARTIFACT, field: "the base backup" }]);
  const superuser = facts.superuser;
  const wal = walSourceFor(context.repository, job.name, context.identities);
  let archived: ArchivedWal[] = [];
  let recoveryTarget: RecoveryTarget | undefined;
  let container: StartedTestContainer | undefined;
  let chain: SnapshotManifest[] = [snapshot];
  const details: Record<string, unknown> = {};

  return {
    async sandbox() {
      // The incremental chain (full backup first), every link trusted and checked.
      chain = await loadChain(context.repository, snapshot);
      if (chain.length > 1) log.info({ chain: describeChain(chain) }, "incremental base backup chain");
      // What the archive holds, and where recovery should stop.
      archived = await wal.list();
      recoveryTarget = resolveTarget(target.pitr, {
        stopLsn: meta.stopLsn,
        stopTime: meta.stopTime,
        newestSegmentStartLsn: newestSegmentStartLsn(archived, meta),
      });
      log.info({ target: describeTarget(recoveryTarget) }, "point-in-time recovery target");
      // The restore's line (restore-command.ts) with the staged WAL as its fallback.
      const restoreCommand = restoreCommandLine(["cp", [`${WAL_DIR}/`, FILE_NAME], DEST_PATH]);
      const settings: Array<[string, string]> = [
        ...recoverySettings(recoveryTarget, restoreCommand),
        ["archive_mode", "off"],
        ["hba_file", HBA_FILE],
        ["listen_addresses", context.stack === undefined ? "" : "*"],
        ["logging_collector", "off"],
        ["unix_socket_directories", "/var/run/postgresql"],
      ];
      const args = settings.flatMap(([name, value]) => ["-c", `${name}=${value}`]);
      container = await startDrillContainer({
        image,
        what: `drill PostgreSQL (PITR of ${job.name})`,
        scope,
        signal,
        pull: target.pull ?? "never",
        env: { PGDATA },
        network: context.stack,
        configure: (builder) => {
          builder
            .withEntrypoint(["sh", "-c", wrapper(context.stack !== undefined), "backdrill-drill"])
            .withSharedMemorySize(512 * 1024 * 1024);
        },
        command: args,
      });
      // The container is started, but its wrapper may not have run its mkdir yet (no wait
      // strategy: nothing listens before recovery). Create the targets ourselves so the copy
      // cannot race it.
      const made = await exec(container, ["mkdir", "-p", PGDATA, WAL_DIR]);
      if (made.exitCode !== 0)
        throw new OperationError(`cannot prepare the drill container: ${made.output.trim()}`);
    },

    async restore() {
      if (container === undefined) throw new OperationError("postgres-base drill: restore before sandbox");
      // Decrypt the WAL recovery may ask for into a private temp dir. Decrypted WAL is
      // plaintext: a killed drill's directory is swept by the next run.
      const fetchStarted = Date.now();
      const walDir = (await makePrivateTempDir(scope, "backdrill-wal-", "WAL temp dir")).path;
      const needed = walNeeded(archived, meta);
      for (const file of needed) {
        signal.throwIfAborted();
        const found = await wal.fetch(file.name, path.join(walDir, file.name), { signal });
        if (!found)
          throw new OperationError(`WAL file ${file.name} disappeared from the archive during the drill`);
      }
      const walFetchMs = Date.now() - fetchStarted;
      const baseStarted = Date.now();
      if (chain.length > 1) {
        await combineInContainer(container, context, chain, signal);
        Object.assign(details, { chain: chain.map((link) => link.id) });
      } else {
        await container.copyArchiveToContainer(
          await context.artifacts.open(BASE_ARTIFACT, { signal }),
          PGDATA,
        );
      }
      await container.copyArchiveToContainer(packDirectory(walDir, signal), WAL_DIR);
      const go = await exec(container, ["sh", "-c", `touch "${PGDATA}/recovery.signal" && touch ${GO_FILE}`]);
      if (go.exitCode !== 0)
        throw new OperationError(`cannot prepare the drill container: ${go.output.trim()}`);
      const baseRestoreMs = Date.now() - baseStarted;
      const replayStarted = Date.now();
      await waitForPromotion(container, superuser, signal, DEFAULT_REPLAY_TIMEOUT_MS);
      Object.assign(details, {
        walFetchMs,
        walFilesFetched: needed.length,
        baseRestoreMs,
        replayMs: Date.now() - replayStarted,
      });
      return [];
    },

    async checks() {
      if (container === undefined || recoveryTarget === undefined) {
        throw new OperationError("postgres-base drill: checks before restore");
      }
      const recoveryLog = parseRecoveryLog(await containerLog(container.getId()));
      const timelineRow = await psql(
        container,
        superuser,
        "postgres",
        "SELECT substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)",
      );
      const timeline = Number.parseInt(timelineRow.out, 16);
      const checks: CheckResult[] = [targetCheck(recoveryTarget, recoveryLog, meta.timeline, timeline)];
      const endCheck = endVsTargetCheck(recoveryTarget, recoveryLog);
      if (endCheck !== undefined) checks.push(endCheck);

      // Continuity up to where recovery ended (latest: the newest archived segment).
      const switchRow = await psql(
        container,
        superuser,
        "postgres",
        "SELECT pg_walfile_name(pg_current_wal_lsn())",
      );
      const endFile = parseWalFileName(switchRow.out);
      const untilSegment =
        recoveryTarget.kind === "latest" || endFile === null
          ? undefined
          : Math.max(stopSegmentOf(meta), segmentNumber(endFile, meta.walSegmentSize) - 1);
      const continuity = checkContinuity({
        archived,
        timeline: meta.timeline,
        stopSegment: stopSegmentOf(meta),
        ...(untilSegment === undefined ? {} : { untilSegment }),
        segmentSize: meta.walSegmentSize,
      });
      checks.push({
        name: "WAL continuity",
        ok: continuity.ok,
        detail: describeContinuity(continuity, meta.walSegmentSize, meta.timeline),
      });

      if (facts.databases.length > 0) {
        const present = await psql(
          container,
          superuser,
          "postgres",
          "SELECT datname FROM pg_database ORDER BY 1",
        );
        const names = new Set(present.out.split("\n"));
        const missing = facts.databases.filter((name) => !names.has(name));
        checks.push({
          name: "databases present",
          ok: present.ok && missing.length === 0,
          detail:
            missing.length === 0 ? `${facts.databases.length} database(s)` : `missing: ${missing.join(", ")}`,
        });
      }
      for (const extension of target.checks?.extensions ?? []) {
        const row = await psql(
          container,
          superuser,
          "postgres",
          `SELECT count(*) > 0 FROM pg_available_extensions WHERE name = '${extension.replace(/'/g, "''")}'`,
        );
        checks.push({
          name: `extension ${extension} available`,
          ok: row.ok && row.out === "t",
          detail: row.err || row.out,
        });
      }
      for (const assertion of target.checks?.sql ?? []) {
        const row = await psql(container, superuser, assertion.database, assertion.query);
        const first = row.out.split("\n")[0]?.split("|")[0] ?? "";
        checks.push({
          name: assertion.name,
          ok: row.ok && first === "t",
          detail: row.ok ? `returned ${first === "" ? "no rows" : first}` : row.err,
        });
      }
      if (target.checks?.amcheck !== false) {
        const amcheck = await exec(
          container,
          ["pg_amcheck", "-U", superuser, "--all", "--install-missing", "--heapallindexed", "--no-password"],
          "postgres",
        );
        checks.push({
          name: "amcheck",
          ok: amcheck.exitCode === 0,
          detail:
            amcheck.exitCode === 0
              ? "no corruption found"
              : (amcheck.stdout + amcheck.stderr).trim().slice(-2000),
        });
      }
      Object.assign(details, {
        target: describeTarget(recoveryTarget),
        segmentsReplayed: recoveryLog.restoredSegments,
        recoveryStop: recoveryLog.stopLine ?? null,
        lastReplayedTransaction: recoveryLog.lastTransactionTime ?? null,
        timeline,
      });
      return checks;
    },

    stack: () => ({
      // No credentials of its own: the restored cluster's roles are production's, and the
      // application brings its password (from the restored secrets) as it would after a restore.
      port: POSTGRES_PORT,
      env: { DATABASES: facts.databases.join(" ") },
      files: [],
      volume: null,
    }),

    details: () => details,
  };
}
