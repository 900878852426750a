/**
 * Disaster restore of a postgres-base job: `backdrill restore <job> --to <data dir> [--at TIME]`
 * lays out a data directory ready to start: the base backup unpacked, `recovery.signal`, and the
 * recovery settings appended to postgresql.auto.conf (later lines win over the source's), with a
 * restore_command (restore-command.ts) that takes prefetched segments from the data directory's
 * pg_wal/.backdrill-prefetch, else runs `backdrill wal fetch --prefetch N` against the same
 * repository. It does not start
 * the server: the operator starts it with their service manager and watches it; the plan lists
 * the exact steps.
 */
import { chmod, mkdir, readdir } from "node:fs/promises";
import path from "node:path";
import { UsageError } from "../../errors.js";
import type { RestoreContext, RestorePlan } from "../contract.js";
import { unpackInto } from "../postgres/tar.js";
import { readBaseMeta } from "./drill.js";
import {
  confValue,
  describeTarget,
  recoverySettings,
  resolveTarget,
  type RecoveryTarget,
} from "./recovery.js";
import { checkAgainstManifest, type BaseBackupFacts } from "./facts.js";
import { requireArtifacts } from "../facts-values.js";
import { writeContainedFile } from "../../fs/contained-files.js";
import type { PostgresBaseRestoreOptions } from "./restore-options.js";
import { DEST_PATH, FILE_NAME, PREFETCH_DIR, restoreCommandLine } from "./restore-command.js";
import { BASE_ARTIFACT, type PgBaseJobInput } from "./types.js";
import { combineChain, describeChain, loadChain } from "./chain-restore.js";
import type { SnapshotManifest } from "../../repository/manifest.js";

type PgBaseRestoreContext = RestoreContext<PgBaseJobInput, BaseBackupFacts, PostgresBaseRestoreOptions>;

async function entries(dir: string): Promise<string[] | null> {
  try {
    return await readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw error;
  }
}

/** What apply executes: the data directory, the recovery target and the settings to append. */
export interface Layout {
  dir: string;
  target: RecoveryTarget;
  restoreCommand: string;
  settings: Array<[string, string]>;
  /** The incremental chain, full backup first; one element for a full backup. */
  chain: SnapshotManifest[];
}

function layoutFor(context: PgBaseRestoreContext, chain: SnapshotManifest[]): Layout {
  const { job, options } = context;
  const meta = readBaseMeta(context.artifacts.snapshot.meta, context.artifacts.snapshot.id);
  checkAgainstManifest(context.facts, context.artifacts, meta);
  requireArtifacts(context.artifacts, [{ name: BASE_ARTIFACT, field: "the base backup" }]);
  // Without --at: replay everything archived (no target; PostgreSQL promotes at the end).
  const target = resolveTarget(options.at ?? "latest", {
    stopLsn: meta.stopLsn,
    stopTime: meta.stopTime,
    newestSegmentStartLsn: null,
  });
  const identity = context.identityFile;
  // One line with the drill's (restore-command.ts): prefetched segments first, else wal fetch.
  const restoreCommand = restoreCommandLine([
    "backdrill",
    "--config-dir",
    path.resolve(context.configDir),
    "wal",
    "fetch",
    job.name,
    FILE_NAME,
    DEST_PATH,
    ...(identity === undefined || identity === "" ? [] : ["--identity", identity]),
    ...(options.prefetch > 0 ? ["--prefetch", String(options.prefetch), "--prefetch-dir", PREFETCH_DIR] : []),
  ]);
  return {
    dir: context.to,
    target,
    restoreCommand,
    settings: recoverySettings(target, restoreCommand),
    chain,
  };
}

export async function planPostgresBaseRestore(context: PgBaseRestoreContext): Promise<RestorePlan<Layout>> {
  const layout = layoutFor(context, await loadChain(context.repository, context.artifacts.snapshot));
  const combined = layout.chain.length > 1;
  const existing = await entries(layout.dir);
  const warnings: string[] = [];
  if (combined && existing !== null && existing.length > 0) {
    // pg_combinebackup writes a new data directory and refuses a non-empty one, --force or not.
    throw new UsageError(
      `--to ${layout.dir} is not empty; an incremental backup is restored by pg_combinebackup into an empty or new directory`,
    );
  }
  if (existing !== null && existing.length > 0 && !context.force) {
    throw new UsageError(`--to ${layout.dir} is not empty; give an empty or new directory (or --force)`);
  }
  if (existing !== null && existing.length > 0)
    warnings.push(`${layout.dir} is not empty; files are unpacked over it (--force)`);
  // The identity is on the restore_command line: the user PostgreSQL runs as must read it.
  warnings.push(
    `restore_command reads ${context.identityFile} as the user PostgreSQL runs as (postgres): make it readable by that user during the recovery, and remove it afterwards`,
  );
  const base = context.artifacts.snapshot.artifacts.find((artifact) => artifact.name === BASE_ARTIFACT);
  const mib = (bytes: number) => `${(bytes / 1048576).toFixed(1)} MiB`;
  const stored = base?.compression === undefined ? "" : `, stored ${base.compression} in ${mib(base.size)}`;
  const size = base?.plainSize === undefined ? "" : ` (${mib(base.plainSize)}${stored})`;
  const first = combined
    ? [
        `unpack each base backup of the chain ${describeChain(layout.chain)} into a private temp dir (removed afterwards)`,
        `combine them with pg_combinebackup -o ${layout.dir} (PostgreSQL 17 tools: ${"image" in context.job.tools ? `image ${context.job.tools.image}` : `binDir ${context.job.tools.binDir}`})`,
      ]
    : [
        `unpack the base backup${size} of snapshot ${context.artifacts.snapshot.id} into ${layout.dir} (mode 0700)`,
      ];
  return {
    steps: [
      ...first,
      `create ${path.join(layout.dir, "recovery.signal")}`,
      `append to postgresql.auto.conf: ${layout.settings.map(([name, value]) => `${name} = ${confValue(value)}`).join("; ")}`,
      `recovery target: ${describeTarget(layout.target)}`,
      `then, by hand: chown -R postgres:postgres ${layout.dir} (PostgreSQL ${String(context.artifacts.snapshot.meta.serverVersion ?? "of the same major version")})`,
      `then: check postgresql.conf in ${layout.dir} (archive_command, paths, memory) for this host; disable archiving or point it at a NEW job so the restored cluster does not write into the old archive`,
      `then: start the server (e.g. sudo -u postgres pg_ctl -D ${layout.dir} -l ${layout.dir}/recovery.log start) and watch the log for "archive recovery complete" / "database system is ready to accept connections"`,
      "then: check SELECT pg_is_in_recovery() returns false, verify the data, and take a new base backup (backdrill backup <job>) at once",
      ...(context.options.prefetch > 0
        ? [
            `then: remove ${path.join(layout.dir, PREFETCH_DIR)} (up to ${context.options.prefetch} segments fetched ahead that recovery did not need)`,
          ]
        : []),
    ],
    warnings,
    data: layout,
  };
}

export async function applyPostgresBaseRestore(
  context: PgBaseRestoreContext,
  plan: RestorePlan<Layout>,
): Promise<void> {
  const layout = plan.data;
  await mkdir(layout.dir, { recursive: true, mode: 0o700 });
  await chmod(layout.dir, 0o700);
  const { signal } = context;
  if (layout.chain.length > 1) {
    await combineChain(context, layout.chain, layout.dir);
  } else {
    // The tar passes a guard first (postgres/tar-guard.ts): nothing outside the data directory, no
    // link out of it, no device. A data directory may hold symlinks inside itself.
    await unpackInto(
      layout.dir,
      await context.artifacts.open(BASE_ARTIFACT, { signal }),
      signal,
      "the base backup",
      { symlinks: true, hardLinks: true },
    );
  }
  // The unpacked tree came from the snapshot: our own two writes never follow a link it left.
  await writeContainedFile(layout.dir, "recovery.signal", "");
  const lines = [
    "",
    `# backdrill restore of ${context.job.name} snapshot ${context.artifacts.snapshot.id}, ${new Date().toISOString()}`,
    ...layout.settings.map(([name, value]) => `${name} = ${confValue(value)}`),
    "",
  ];
  await writeContainedFile(layout.dir, "postgresql.auto.conf", lines.join("\n"), { append: true });
  context.log.info(
    { dir: layout.dir, target: describeTarget(layout.target) },
    "data directory laid out for recovery",
  );
}
