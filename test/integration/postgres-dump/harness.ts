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
  RestoreFlagValues,
} from "../../../src/kinds/contract.js";
import type { ArtifactRecord, SnapshotManifest } from "../../../src/repository/manifest.js";
import { Repository } from "../../../src/repository/repository.js";
import { LocalBackend } from "../../../src/storage/local/local-backend.js";
import { runDrillPhases, type PhasesOutcome } from "../../../src/runner/drill-phases.js";
import { postgresDumpKind } from "../../../src/kinds/postgres-dump/index.js";
import { pgDumpFactsSchema, type PgDumpFacts } from "../../../src/kinds/postgres-dump/facts.js";
import type { PostgresDumpTarget } from "../../../src/kinds/postgres-dump/target.js";
import type { PgDumpJobInput } from "../../../src/kinds/postgres-dump/types.js";
import type { PostgresDumpJob } from "../../../src/kinds/postgres-dump/job-schema.js";
import { postgresImage } from "../../support/images.js";

export const log: Logger = createLogger({ level: process.env.BACKDRILL_LOG_LEVEL ?? "warn", pretty: false });

/**
 * The test job: database `task` of the test server on 127.0.0.1:`port` as user `test`, custom
 * format with globals, tools from the test image; `overrides` replace whole fields.
 */
export function dumpJob(
  port: number,
  passwordEnv: string,
  overrides: Partial<PgDumpJobInput> = {},
): PgDumpJobInput {
  return {
    name: "task-db",
    kind: "postgres-dump",
    connection: { host: "127.0.0.1", port, user: "test", passwordEnv },
    databases: ["task"],
    format: "custom",
    globals: true,
    tools: { image: postgresImage() },
    facts: { checksumMaxRows: 1000 },
    ...overrides,
  };
}

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

  manifest(meta: BackupOutcome<unknown>["meta"] = {}): SnapshotManifest {
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

  reader(meta: BackupOutcome<unknown>["meta"] = {}): ArtifactReader {
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

/**
 * The kind's context: the postgres-dump engine never reads the repository itself, so it gets an
 * empty one in the snapshot's temp dir.
 */
function baseContext(scope: Scope, env: NodeJS.ProcessEnv, snapshot: DirSnapshot) {
  return {
    log,
    signal: new AbortController().signal,
    scope,
    env,
    configDir: process.cwd(),
    jobFile: "jobs/task-db.yaml",
    repository: new Repository(new LocalBackend({ path: path.join(snapshot.dir, "repository") })),
    identities: [],
  };
}

/** The engine is typed for the config's job type; tests pass the structural subset it reads. */
function asJob(job: PgDumpJobInput): PostgresDumpJob {
  return job as PostgresDumpJob;
}

/** Facts as the runner hands them to drill and restore: parsed with the kind's schema. */
function parsed(facts: unknown): PgDumpFacts {
  return pgDumpFactsSchema.parse(facts);
}

export async function runBackup(
  job: PgDumpJobInput,
  env: NodeJS.ProcessEnv,
): Promise<{ outcome: BackupOutcome<PgDumpFacts>; snapshot: DirSnapshot }> {
  const snapshot = await DirSnapshot.create();
  const scope = new Scope();
  try {
    const engine = await postgresDumpKind.engine();
    const outcome = await engine.backup({ ...baseContext(scope, env, snapshot), job: asJob(job), snapshot });
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
  target: Omit<PostgresDumpTarget, "snapshot">,
  snapshot: DirSnapshot,
  facts: unknown,
  env: NodeJS.ProcessEnv = {},
): Promise<PhasesOutcome> {
  const scope = new Scope();
  let outcome: PhasesOutcome;
  let releaseErrors: Array<{ what: string }> = [];
  try {
    const engine = await postgresDumpKind.engine();
    outcome = await runDrillPhases(
      engine.drill({
        ...baseContext(scope, env, snapshot),
        job: asJob(job),
        target: { snapshot: "latest", ...target },
        artifacts: snapshot.reader(),
        facts: parsed(facts),
      }),
    );
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
  facts: unknown,
  options: { to: string; force: boolean; flags: RestoreFlagValues },
  dryRun = false,
): Promise<{ steps: string[]; warnings: string[] }> {
  const scope = new Scope();
  try {
    const engine = await postgresDumpKind.engine();
    const context = {
      ...baseContext(scope, {}, snapshot),
      job: asJob(job),
      artifacts: snapshot.reader(),
      facts: parsed(facts),
      to: options.to,
      force: options.force,
      options: postgresDumpKind.restore.options({
        to: options.to,
        flags: options.flags,
        env: {},
        job: asJob(job),
      }),
      identityFile: "/secure/identity.txt",
    };
    const plan = await engine.planRestore(context);
    if (!dryRun) await engine.applyRestore(context, plan);
    return { steps: plan.steps, warnings: plan.warnings };
  } finally {
    await scope.close();
  }
}
