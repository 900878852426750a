import type { ArtifactWriter, Engine, JobLike } from "../engines/engine.js";
import { pipeline } from "node:stream";
import { ProgressStream } from "../log/progress.js";
import { BackdrillError, ExitCode, exitCodeOf } from "../errors.js";
import { withScope } from "../lifecycle/scope.js";
import type { Logger } from "../log/logger.js";
import { redact } from "../log/redact.js";
import { FACTS_ARTIFACT, type SnapshotManifest } from "../repository/manifest.js";
import type { Repository } from "../repository/repository.js";

export interface BackupTarget<J extends JobLike> {
  job: J;
  engine: Engine<J>;
  repository: Repository;
  /** Public age recipients of the job's policy. */
  recipients: string[];
}

export interface BackupRunContext {
  log: Logger;
  signal: AbortSignal;
  env: NodeJS.ProcessEnv;
  configDir: string;
}

/** `backup --json` entry (design.md shape, plus timing and size). */
export interface BackupResult {
  job: string;
  ok: boolean;
  snapshot: string | null;
  error?: string;
  /**
   * The failure needs the host or the config fixed, not a retry (a missing rsync): nothing a
   * re-run alone would change. `backup` exits 2 when every failure is one of these.
   */
  usage?: true;
  durationMs: number;
  bytes: number;
}

/**
 * One job's backup: engine → encrypt → store each artifact, then the facts, then the manifest
 * (the commit). On any failure the artifacts written so far are removed and no manifest exists;
 * a SIGKILL in between leaves a leftover that verify reports and prune removes.
 */
export async function runJobBackup<J extends JobLike>(
  target: BackupTarget<J>,
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
  try {
    await target.repository.init();
    const outcome = await withScope(
      (scope) =>
        target.engine.backup({
          job: target.job,
          snapshot,
          log,
          signal: context.signal,
          scope,
          env: context.env,
          configDir: context.configDir,
        }),
      (what, error) => log.warn({ err: error }, `cleanup of ${what} failed`),
    );
    context.signal.throwIfAborted();
    await writer.addJson(FACTS_ARTIFACT, outcome.facts);
    const manifest = await writer.commit(outcome.meta);
    if (writer.copyError !== undefined) {
      // Committed all the same; only a later deletion of its manifest would go unnoticed.
      log.warn({ err: writer.copyError, snapshot: manifest.id }, "could not write the manifest copy");
    }
    const bytes = manifest.artifacts.reduce((sum, artifact) => sum + artifact.size, 0);
    const durationMs = Date.now() - started;
    log.info({ snapshot: manifest.id, bytes, durationMs }, "backup committed");
    return { result: { job: target.job.name, ok: true, snapshot: manifest.id, durationMs, bytes }, manifest };
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
        ...(exitCodeOf(error) === ExitCode.usage ? { usage: true as const } : {}),
        durationMs: Date.now() - started,
        bytes: writer.written.reduce((sum, artifact) => sum + artifact.size, 0),
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
