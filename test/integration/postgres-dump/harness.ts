/**
 * Drives the postgres-dump engine without the runner, repository or encryption: artifacts are
 * plaintext files in a temp dir, the manifest is built in memory. This isolates the engine's own
 * behaviour (what it dumps, measures, restores and checks) from the layers around it.
 */
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdtemp, rm, stat } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Transform, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { Scope } from "../../../src/lifecycle/scope.js";
import { createLogger, type Logger } from "../../../src/log/logger.js";
import type {
  ArtifactReader,
  ArtifactWriter,
  BackupOutcome,
  DrillOutcome,
  RestoreOptions,
} from "../../../src/kinds/engine.js";
import type { ArtifactRecord, SnapshotManifest } from "../../../src/repository/manifest.js";
import { postgresDumpEngine } from "../../../src/kinds/postgres-dump/index.js";
import type { PgDumpDrillTargetInput, PgDumpJobInput } from "../../../src/kinds/postgres-dump/types.js";
import type { PostgresDumpJob } from "../../../src/kinds/postgres-dump/job-schema.js";
import type { DrillTarget } from "../../../src/config/drill-schema.js";

export const log: Logger = createLogger({ level: process.env.BACKDRILL_LOG_LEVEL ?? "warn", pretty: false });

/** A snapshot kept as plaintext files: writer during backup, reader during drill/restore. */
export class DirSnapshot implements ArtifactWriter {
  readonly records: ArtifactRecord[] = [];
  private constructor(
    readonly dir: string,
    readonly id: string,
  ) {}

  static async create(): Promise<DirSnapshot> {
    const dir = await mkdtemp(path.join(os.tmpdir(), "pgdump-test-"));
    const id = `${new Date()
      .toISOString()
      .replace(/[-:]/g, "")
      .replace(/\.\d+Z$/, "Z")}-${Math.random().toString(16).slice(2, 8)}`;
    return new DirSnapshot(dir, id);
  }

  async addArtifact(
    name: string,
    plaintext: Readable,
    options?: { signal?: AbortSignal },
  ): Promise<ArtifactRecord> {
    const file = path.join(this.dir, name);
    const hash = createHash("sha256");
    let size = 0;
    const tap = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        hash.update(chunk);
        size += chunk.length;
        callback(null, chunk);
      },
    });
    await pipeline(
      plaintext,
      tap,
      createWriteStream(file),
      options?.signal ? { signal: options.signal } : {},
    );
    const record: ArtifactRecord = { name, path: file, size, sha256: hash.digest("hex"), plainSize: size };
    this.records.push(record);
    return record;
  }

  manifest(meta: BackupOutcome["meta"] = {}): SnapshotManifest {
    const now = new Date().toISOString();
    return {
      format: 1,
      id: this.id,
      job: "task-db",
      kind: "postgres-dump",
      createdAt: now,
      finishedAt: now,
      host: os.hostname(),
      backdrillVersion: "test",
      meta,
      artifacts: this.records,
    };
  }

  reader(meta: BackupOutcome["meta"] = {}): ArtifactReader {
    const manifest = this.manifest(meta);
    return {
      snapshot: manifest,
      names: () => manifest.artifacts.map((a) => a.name),
      open: async (name) => {
        const record = manifest.artifacts.find((a) => a.name === name);
        if (record === undefined) throw new Error(`no artifact ${name}`);
        await stat(record.path);
        return createReadStream(record.path);
      },
    };
  }

  async remove(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }
}

function baseContext(scope: Scope, env: NodeJS.ProcessEnv) {
  return { log, signal: new AbortController().signal, scope, env, configDir: process.cwd() };
}

/** The engine is typed for the config's job type; tests pass the structural subset it reads. */
function asJob(job: PgDumpJobInput): PostgresDumpJob {
  return job as PostgresDumpJob;
}

export async function runBackup(
  job: PgDumpJobInput,
  env: NodeJS.ProcessEnv,
): Promise<{ outcome: BackupOutcome; snapshot: DirSnapshot }> {
  const snapshot = await DirSnapshot.create();
  const scope = new Scope();
  try {
    const outcome = await postgresDumpEngine.backup({
      ...baseContext(scope, env),
      job: asJob(job),
      snapshot,
    });
    return { outcome, snapshot };
  } catch (error) {
    await snapshot.remove();
    throw error;
  } finally {
    await scope.close();
  }
}

export async function runDrill(
  job: PgDumpJobInput,
  target: PgDumpDrillTargetInput,
  snapshot: DirSnapshot,
  facts: Record<string, unknown>,
  env: NodeJS.ProcessEnv = {},
): Promise<DrillOutcome> {
  const scope = new Scope();
  let outcome: DrillOutcome;
  let releaseErrors: Array<{ what: string }> = [];
  try {
    outcome = await postgresDumpEngine.drill({
      ...baseContext(scope, env),
      job: asJob(job),
      target: { snapshot: "latest", ...target } as DrillTarget,
      artifacts: snapshot.reader(),
      facts,
    });
  } finally {
    releaseErrors = await scope.close();
  }
  // The drill container and temp dirs must go away on every path; a failed release is a bug.
  if (releaseErrors.length > 0)
    throw new Error(`scope release failed: ${releaseErrors.map((e) => e.what).join(", ")}`);
  return outcome;
}

export async function runRestore(
  job: PgDumpJobInput,
  snapshot: DirSnapshot,
  facts: Record<string, unknown>,
  options: RestoreOptions,
  dryRun = false,
): Promise<{ steps: string[]; warnings: string[] }> {
  const scope = new Scope();
  try {
    const context = {
      ...baseContext(scope, {}),
      job: asJob(job),
      artifacts: snapshot.reader(),
      facts,
      options,
    };
    const plan = await postgresDumpEngine.planRestore(context);
    if (!dryRun) await postgresDumpEngine.restore(context, plan);
    return plan;
  } finally {
    await scope.close();
  }
}
