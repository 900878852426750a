import { pipeline } from "node:stream";
import type { ArtifactWriter, JobLike } from "../kinds/contract.js";
import { ProgressStream } from "../log/progress.js";
import { BackdrillError, ExitCode, exitCodeOf } from "../errors.js";
import { withScope } from "../lifecycle/scope.js";
import type { Logger } from "../log/logger.js";
import { redact } from "../log/redact.js";
import { FACTS_ARTIFACT, type SnapshotManifest } from "../repository/manifest.js";
import type { Repository } from "../repository/repository.js";
import type { RunnableKind } from "./drill-target.js";
import { parseFacts } from "./facts.js";

export interface BackupTarget {
  job: JobLike;
  /** The job's config file, for messages about its fields (default: `jobs/<name>.yaml`). */
  jobFile?: string;
  /** The kind: its engine makes the artifacts, its facts schema checks the facts before they are stored. */
  kind: RunnableKind;
  repository: Repository;
  /** Public age recipients of the job's policy. */
  recipients: string[];
  /**
   * Runs right before the manifest is written and stops the commit by throwing: the job lock's
   * `confirm` (a run whose lock was taken over must not commit beside the run that took it).
   */
  confirmCommit?: () => Promise<void>;
}

export interface BackupRunContext {
  log: Logger;
  signal: AbortSignal;
  env: NodeJS.ProcessEnv;
  configDir: string;
}

/** `backup --json` entry. */
export interface BackupResult {
  job: string;
  ok: boolean;
  snapshot: string | null;
  error?: string;
  /**
   * The failure needs the host or the config fixed, not a retry (a missing rsync, an unset
   * secret variable): nothing a re-run alone would change. `backup` exits 2 when every failure
   * is one of these.
   */
  usage?: true;
  durationMs: number;
  bytes: number;
  /**
   * The backup's phases, timed by the runner for every kind alike: sourceMs, the kind reading
   * its source and storing the artifacts (encrypted, streamed); commitMs, the facts and the
   * manifest written. Absent when the run did not start.
   */
  timings?: { sourceMs: number; commitMs: number };
}

/**
 * One job's backup: engine → encrypt → store each artifact, then the facts, then the manifest
 * (the commit). On any failure the artifacts written so far are removed and no manifest exists;
 * a SIGKILL in between leaves a leftover that verify reports and prune removes.
 */
export async function runJobBackup(
  target: BackupTarget,
  context: BackupRunContext,
): Promise<{ result: BackupResult; manifest?: SnapshotManifest }> {
  const started = Date.now();
  const log = context.log.child({ job: target.job.name });
  const writer = target.repository.createSnapshot({
    job: target.job.name,
    kind: target.job.kind,
    recipients: target.recipients,
  });
  log.info({ snapshot: writer.id, repository: target.repository.location }, "backup started");
  // What the engine sees: the writer, with a progress line per artifact when stderr is a TTY.
  const snapshot: ArtifactWriter = {
    id: writer.id,
    // pipeline, not pipe: an error on either side must destroy the other (pg_dump fails → the
    // store aborts; the store fails → pg_dump is stopped).
    addArtifact: (name, plaintext, options) =>
      writer.addArtifact(
        name,
        pipeline(plaintext, new ProgressStream(`${target.job.name} ${name}`), () => undefined),
        options,
      ),
  };
  const timings = { sourceMs: 0, commitMs: 0 };
  try {
    await target.repository.init();
    const engine = await target.kind.engine();
    const sourceStarted = Date.now();
    const outcome = await withScope(
      (scope) =>
        engine.backup({
          job: target.job,
          snapshot,
          history: () => target.repository.snapshots(target.job.name),
          log,
          signal: context.signal,
          scope,
          env: context.env,
          configDir: context.configDir,
          jobFile: target.jobFile ?? `jobs/${target.job.name}.yaml`,
        }),
      (what, error) => log.warn({ err: error }, `cleanup of ${what} failed`),
    );
    timings.sourceMs = Date.now() - sourceStarted;
    context.signal.throwIfAborted();
    const commitStarted = Date.now();
    // Checked on the way in as well as on the way out: a drill must never meet facts its own
    // kind would refuse.
    const facts = parseFacts(target.kind.factsSchema, outcome.facts, {
      job: target.job.name,
      id: writer.id,
      kind: target.job.kind,
    });
    await writer.addJson(FACTS_ARTIFACT, facts);
    const manifest = await writer.commit(
      outcome.meta,
      target.confirmCommit === undefined ? {} : { confirm: target.confirmCommit },
    );
    timings.commitMs = Date.now() - commitStarted;
    if (writer.copyError !== undefined) {
      // Committed all the same; only a later deletion of its manifest would go unnoticed.
      log.warn({ err: writer.copyError, snapshot: manifest.id }, "could not write the manifest copy");
    }
    const bytes = manifest.artifacts.reduce((sum, artifact) => sum + artifact.size, 0);
    const durationMs = Date.now() - started;
    log.info({ snapshot: manifest.id, bytes, durationMs }, "backup committed");
    return {
      result: { job: target.job.name, ok: true, snapshot: manifest.id, durationMs, bytes, timings },
      manifest,
    };
  } catch (error) {
    const message = redact(errorLine(error));
    log.error({ snapshot: writer.id, error: message }, "backup failed; no snapshot written");
    await writer.abort().catch((abortError: unknown) => {
      log.warn({ err: abortError }, "could not remove the partial artifacts; prune will remove them");
    });
    return {
      result: {
        job: target.job.name,
        ok: false,
        snapshot: null,
        error: message,
        durationMs: Date.now() - started,
        bytes: writer.written.reduce((sum, artifact) => sum + artifact.size, 0),
        timings,
        ...(exitCodeOf(error) === ExitCode.usage ? { usage: true as const } : {}),
      },
    };
  }
}

/**
 * A failed job's error as the one line `backup` prints and `--json` carries: tool stderr tails
 * (pg_dump's "error:" + "detail:" lines, ssh's) joined, and the error's hint (what to do) appended,
 * so an operator reading `FAILED  <job>  ...` sees both what broke and where to look.
 */
export function errorLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const hint = error instanceof BackdrillError ? error.hint : undefined;
  const line = message
    .split(/\r?\n/)
    .map((part) => part.trim())
    .filter((part) => part !== "")
    .join(" | ");
  return hint === undefined || line.includes(hint) ? line : `${line} (hint: ${hint})`;
}
