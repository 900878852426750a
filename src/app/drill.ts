import { hostname } from "node:os";
import { parseDurationSeconds } from "../schema/duration.js";
import type { Config, LoadedDrill } from "../config/types.js";
import { readIdentityFile } from "../crypto/keys.js";
import { kindOf } from "../kinds/registry.js";
import { UsageError } from "../errors.js";
import type { Logger } from "../log/logger.js";
import { redact } from "../log/redact.js";
import type { DrillReport, StackReport, TargetReport } from "../report/types.js";
import { writeDrillReport, type WrittenReport } from "../report/write.js";
import { runDrillTarget } from "../runner/drill-target.js";
import { VERSION } from "../version.js";
import { didYouMean } from "../schema/suggest.js";
import { jobByName } from "./config.js";
import { openRepository } from "../repository/open.js";
import { drillFinished, runStarting } from "../ops/run-hooks.js";
import { drillStack } from "./stack-drill.js";
import { drillTargetPolicy } from "./copy.js";
import { recordDrillHistory, type RecordedHistory } from "./drill-history.js";
import { failedTarget } from "../report/failed-target.js";
import { pinEngine, resolveEngine } from "../docker/engine.js";

export interface DrillOptions {
  drills: string[];
  all: boolean;
  log: Logger;
  signal: AbortSignal;
  env?: NodeJS.ProcessEnv;
  /** Only these jobs' targets (for a quick re-run of one failing target). */
  onlyJobs?: string[];
}

export interface DrillRun {
  report: DrillReport;
  files: WrittenReport;
  /** The run's records in its jobs' repositories (what every host's `status` reads). */
  history: RecordedHistory;
}

function selectDrills(config: Config, names: string[], all: boolean): LoadedDrill[] {
  if (all && names.length > 0) throw new UsageError("give drill names or --all, not both");
  if (all) return [...config.drills.values()];
  if (names.length === 0) throw new UsageError("name at least one drill, or pass --all");
  return names.map((name) => {
    const drill = config.drills.get(name);
    if (drill === undefined) {
      const known = [...config.drills.keys()];
      throw new UsageError(
        `unknown drill "${name}"${didYouMean(name, known)} (configured drills: ${known.join(", ") || "none"})`,
      );
    }
    return drill;
  });
}

/** Runs each drill's targets in order and writes its reports. */
export async function runDrills(config: Config, options: DrillOptions): Promise<DrillRun[]> {
  const env = options.env ?? process.env;
  const runs: DrillRun[] = [];
  for (const loaded of selectDrills(config, options.drills, options.all)) {
    const drill = loaded.drill;
    const hooks = { log: options.log, env, metricsFile: drill.metricsFile };
    await runStarting(drill.name, hooks);
    const startedAt = new Date();
    const identities = await readIdentityFile(drill.identityFile);
    // The engine is pinned before anything talks to Docker (docker/engine.ts). One that does not
    // answer fails every target with one line naming it; a bad address is a usage error (exit 2).
    const engine = resolveEngine({ engine: drill.engine, drill: drill.name }, env);
    let engineDown: string | undefined;
    try {
      await pinEngine(drill.name, engine);
    } catch (error) {
      if (error instanceof UsageError || drill.stack !== undefined) throw error;
      engineDown = redact(error instanceof Error ? error.message : String(error));
    }
    const targets: TargetReport[] = [];
    let stack: StackReport | undefined;
    if (drill.stack !== undefined) {
      // A stack drill: the targets together in one isolated network, then the smoke test.
      const result = await drillStack(config, {
        drill,
        configDir: config.dir,
        identities,
        log: options.log,
        signal: options.signal,
        env,
        onlyJobs: options.onlyJobs,
        startedAt,
      });
      targets.push(...result.targets);
      stack = result.stack;
    }
    for (const target of drill.stack === undefined ? drill.targets : []) {
      if (options.onlyJobs !== undefined && !options.onlyJobs.includes(target.job)) continue;
      const loadedJob = jobByName(config, target.job);
      const rtoSeconds = target.rto === undefined ? null : parseDurationSeconds(target.rto);
      let report: TargetReport;
      if (options.signal.aborted) {
        report = failedTarget(loadedJob.job.name, loadedJob.job.kind, rtoSeconds, "not started: interrupted");
      } else if (engineDown !== undefined) {
        report = failedTarget(
          loadedJob.job.name,
          loadedJob.job.kind,
          rtoSeconds,
          `not started: ${engineDown}`,
        );
      } else {
        try {
          const kind = kindOf(loadedJob.job.kind);
          // The drill may trust signing keys of its own (a drill host that shares no policy file).
          // `fromCopy: N`: the snapshot is read from the policy's copy N (backdrill copy).
          const repository = await openRepository(
            drillTargetPolicy(config, target.job, target.fromCopy),
            env,
            {
              publicKeys: drill.signing?.publicKeys ?? [],
            },
          );
          try {
            report = await runDrillTarget(
              {
                job: loadedJob.job,
                jobFile: loadedJob.file,
                // The drill's pull setting travels with each target to the kind (images, tools).
                target: { ...target, pull: drill.pull },
                kind,
                repository,
                snapshot: target.snapshot,
                identities,
                rtoSeconds,
              },
              {
                log: options.log.child({ drillName: drill.name }),
                signal: options.signal,
                env,
                configDir: config.dir,
              },
            );
          } finally {
            await repository.backend.close();
          }
        } catch (error) {
          report = failedTarget(
            loadedJob.job.name,
            loadedJob.job.kind,
            rtoSeconds,
            redact(error instanceof Error ? error.message : String(error)),
          );
        }
      }
      targets.push(report);
    }
    const report: DrillReport = {
      drill: drill.name,
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      ok: targets.length > 0 && targets.every((target) => target.ok) && (stack === undefined || stack.ok),
      host: hostname(),
      backdrillVersion: VERSION,
      targets,
      ...(stack === undefined ? {} : { stack }),
    };
    const files = await writeDrillReport(drill.reportDir, report);
    // The same report, per job, into the jobs' repositories: the history every host reads.
    const history = await recordDrillHistory(config, report, { env, log: options.log });
    options.log.info({ drill: drill.name, ok: report.ok, report: files.markdown }, "drill finished");
    // Metrics and the healthchecks ping, for the CLI and the scheduler alike; they never throw.
    await drillFinished(report, hooks);
    runs.push({ report, files, history });
  }
  return runs;
}
