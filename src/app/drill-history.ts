/**
 * Drill history for every host with the config: each drill writes its JSON report, per target
 * job, into that job's repository (repository/drill-history.ts), and `status` and `report --html`
 * read the runs back from there, merged with the local report directories.
 *
 * The merge rule (README "Drill history"): the repository is the record. A run is a drill name
 * and its start stamp (`<drill>-<stamp>`); a run found in the repository is taken from there,
 * and a report file in a drill's `reportDir` is used only for a run the repository has no record
 * of (reports from before the history existed, a run whose history write failed, a host that
 * cannot read the repository's records). Two hosts with the same config therefore show the same
 * runs, whatever their local report directories hold.
 */
import { readIdentityFile } from "../crypto/keys.js";
import type { Config, LoadedDrill, LoadedPolicy } from "../config/types.js";
import { parseDrillReport, readDrillReportFiles, type StoredDrillReport } from "../history/drill-reports.js";
import type { Logger } from "../log/logger.js";
import { redactDeep } from "../log/redact.js";
import type { DrillReport } from "../report/types.js";
import { historyStamp, readDrillRecords, writeDrillRecord } from "../repository/drill-history.js";
import { openRepository } from "../repository/open.js";
import type { Repository } from "../repository/repository.js";
import { readRecipients } from "../secrets/resolve.js";
import { jobByName, policyOf } from "./config.js";
import { identityFileOf } from "./identity.js";

/** One drill run as the history shows it. */
export interface HistoryRun {
  /** `20261128T040000Z`: the run's start, how runs are ordered and matched. */
  stamp: string;
  report: StoredDrillReport;
  /** Where it was read: `<repository location>/<key>` (one per job record) or the report file. */
  source: string;
  from: "repository" | "local";
}

export interface RecordedHistory {
  /** `<repository location>/<key>` of every record written. */
  written: string[];
  /** Jobs whose record could not be written, one line each (the local report still exists). */
  warnings: string[];
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Writes the run's record into the repository of each target's job: that job's targets only (a
 * repository never learns about another policy's jobs), encrypted to the job's policy recipients,
 * signed when the policy signs. Never throws: the drill's result does not depend on its history.
 */
export async function recordDrillHistory(
  config: Config,
  report: DrillReport,
  options: { env: NodeJS.ProcessEnv; log: Logger },
): Promise<RecordedHistory> {
  const result: RecordedHistory = { written: [], warnings: [] };
  const jobs = [...new Set(report.targets.map((target) => target.job))];
  for (const job of jobs) {
    let repository: Repository | undefined;
    try {
      const loaded = jobByName(config, job);
      const policy = policyOf(config, loaded);
      const recipients = await readRecipients(policy);
      repository = await openRepository(policy, options.env, { sign: true });
      if (!(await repository.isInitialized())) {
        result.warnings.push(
          `drill history of ${job}: not written, ${repository.location} holds no repository yet (run a backup first)`,
        );
        continue;
      }
      const part = redactDeep({
        drill: report.drill,
        startedAt: report.startedAt,
        finishedAt: report.finishedAt,
        ok: report.ok,
        host: report.host,
        backdrillVersion: report.backdrillVersion,
        targets: report.targets.filter((target) => target.job === job),
      });
      const key = await writeDrillRecord(repository, recipients, {
        job,
        drill: report.drill,
        startedAt: report.startedAt,
        report: part,
      });
      result.written.push(`${repository.location}/${key}`);
    } catch (error) {
      result.warnings.push(`drill history of ${job}: not written to the repository: ${message(error)}`);
    } finally {
      await repository?.backend.close();
    }
  }
  for (const warning of result.warnings) options.log.warn({ drill: report.drill, warning }, "drill history");
  return result;
}

/**
 * The age identities this host holds for reading drill records: $BACKDRILL_IDENTITY_FILE and
 * every drill's identityFile that can be read here. A host that holds none reads no record.
 */
export async function historyIdentities(config: Config, env: NodeJS.ProcessEnv): Promise<string[]> {
  const files = new Set<string>();
  const fromEnv = identityFileOf(undefined, env);
  if (fromEnv !== undefined) files.add(fromEnv);
  for (const loaded of config.drills.values()) files.add(loaded.drill.identityFile);
  const identities: string[] = [];
  for (const file of files) {
    // A laptop with the config but no key is a normal reader: it just cannot open the records.
    identities.push(...(await readIdentityFile(file).catch(() => [])));
  }
  return identities;
}

/** Signing keys the drills that target `job` trust on top of its policy (as a drill would read). */
function drillPublicKeys(config: Config, job: string): string[] {
  const keys = new Set<string>();
  for (const loaded of config.drills.values()) {
    if (targetJobs(loaded).includes(job)) {
      for (const key of loaded.drill.signing?.publicKeys ?? []) keys.add(key);
    }
  }
  return [...keys];
}

function targetJobs(loaded: LoadedDrill): string[] {
  return loaded.drill.targets.map((target) => target.job);
}

/** Every run recorded in the repositories of `jobs`, one per drill run (records of jobs merged). */
async function repositoryRuns(
  config: Config,
  jobs: string[],
  env: NodeJS.ProcessEnv,
  warnings: string[],
): Promise<HistoryRun[]> {
  const identities = await historyIdentities(config, env);
  const runs = new Map<string, HistoryRun & { sources: string[] }>();
  for (const job of jobs) {
    let repository: Repository | undefined;
    let policy: LoadedPolicy | undefined;
    try {
      policy = policyOf(config, jobByName(config, job));
      repository = await openRepository(policy, env, { publicKeys: drillPublicKeys(config, job) });
      const listing = await readDrillRecords(repository, job, identities);
      warnings.push(...listing.refused);
      if (listing.skippedNoIdentity > 0) {
        warnings.push(
          `drill history of ${job}: ${listing.skippedNoIdentity} record(s) in ${repository.location} not read: this host holds no age identity (set BACKDRILL_IDENTITY_FILE, or a drill's identityFile readable here)`,
        );
      }
      for (const record of listing.records) {
        const source = `${repository.location}/${record.key}`;
        let report: StoredDrillReport;
        try {
          report = parseDrillReport(record.report, record.drill);
          if (historyStamp(report.startedAt) !== historyStamp(record.startedAt)) {
            throw new Error(`its report started at ${report.startedAt}, not ${record.startedAt}`);
          }
          // A job's record speaks for that job only.
          const foreign = report.targets.find((target) => target.job !== job);
          if (foreign !== undefined) throw new Error(`it holds a target of job ${foreign.job}`);
        } catch (error) {
          warnings.push(`drill history ${source}: ${message(error)}; not used`);
          continue;
        }
        const stamp = historyStamp(report.startedAt);
        const id = `${report.drill}-${stamp}`;
        const existing = runs.get(id);
        if (existing === undefined) {
          runs.set(id, { stamp, report, source, from: "repository", sources: [source] });
        } else {
          existing.report = {
            ...existing.report,
            ok: existing.report.ok && report.ok,
            targets: [...existing.report.targets, ...report.targets],
          };
          existing.sources.push(source);
        }
      }
    } catch (error) {
      warnings.push(`drill history of ${job}: cannot read the repository: ${message(error)}`);
    } finally {
      await repository?.backend.close();
    }
  }
  return [...runs.values()].map(({ sources, ...run }) => ({ ...run, source: sources.join(", ") }));
}

export interface LoadDrillRunsOptions {
  env: NodeJS.ProcessEnv;
  /** Only the history of these jobs' repositories (default every configured job). */
  jobs?: string[];
  /** Where problems are collected (refused records, unreadable files). */
  warnings: string[];
}

/**
 * Every drill run, oldest first: the repositories' records, and the local report files of runs
 * they do not hold (the merge rule at the top). Redacted.
 */
export async function loadDrillRuns(config: Config, options: LoadDrillRunsOptions): Promise<HistoryRun[]> {
  const jobs = options.jobs ?? [...config.jobs.keys()];
  const recorded = await repositoryRuns(config, jobs, options.env, options.warnings);
  const known = new Set(recorded.map((run) => `${run.report.drill}-${run.stamp}`));
  const local: HistoryRun[] = [];
  for (const loaded of config.drills.values()) {
    const files = await readDrillReportFiles(loaded.drill.reportDir, loaded.drill.name, options.warnings);
    for (const file of files) {
      if (known.has(`${loaded.drill.name}-${file.stamp}`)) continue;
      local.push({ stamp: file.stamp, report: file.report, source: file.path, from: "local" });
    }
  }
  const runs = redactDeep([...recorded, ...local]);
  // Equal stamps: the repository's record last, so it counts as the newer of the two.
  const rank = (run: HistoryRun): number => (run.from === "repository" ? 1 : 0);
  return runs.sort((a, b) => (a.stamp < b.stamp ? -1 : a.stamp > b.stamp ? 1 : rank(a) - rank(b)));
}
