/**
 * `backdrill doctor`: preflight before the first nightly run, after a change, or when something
 * broke. Config, secrets, repositories (reachability, bucket versioning / lifecycle / Object
 * Lock), each job's server or source, WAL archiving health, locks, and for drills Docker, images
 * and identities: one result per check, ok / warn / fail, with a hint for what to do.
 *
 * Guarantees: doctor changes nothing anywhere (no marker written, no bucket setting applied, no
 * lock taken, no secret opened), with one exception: on an S3 repository, outside scope drill, it
 * writes and deletes one probe object under `locks/` to check the server honours conditional
 * writes (locks depend on it); every check is bounded in time and independent of the others;
 * no secret value appears in a result (details pass through the redactor as well).
 *
 * Scope: a backup host never holds the drill identity and a drill host need not reach the
 * production servers, so `scope: "backup"` skips drills and `scope: "drill"` skips the jobs'
 * own servers (keeping the repositories the drills read).
 */
import { jobByName, openConfig, policyOf } from "./config.js";
import { checkSecrets, type SecretScope } from "../config/check-secrets.js";
import type { Config, LoadedDrill, LoadedJob, LoadedPolicy } from "../config/types.js";
import { ConfigError, formatConfigIssue, type ConfigIssue } from "../errors.js";
import { withScope } from "../lifecycle/scope.js";
import type { Logger } from "../log/logger.js";
import { createDoctorContext, type DoctorContext } from "./doctor/context.js";
import { dockerCheck, drillChecks } from "./doctor/drills.js";
import type { KindDoctorContext } from "../kinds/contract.js";
import { kindOf } from "../kinds/registry.js";
import { summarize, type CheckResult, type DoctorReport } from "../preflight/report.js";
import { lockCheck, policyChecks } from "./doctor/repository.js";
import { fail, ok, runChecks, warn, type CheckSpec } from "../preflight/runner.js";
import { WEBHOOK_ENV, webhookWarning } from "../ops/webhook.js";

export { formatReport, summarize } from "../preflight/report.js";
export type { CheckResult, CheckStatus, DoctorReport, Finding } from "../preflight/report.js";

export const DEFAULT_CHECK_TIMEOUT_MS = 10_000;
/** Checks in flight at once: enough to hide network latency, few enough for a 2-core backup host. */
const CONCURRENCY = 4;

export interface DoctorOptions {
  /** Only these jobs (their policies, and the drill targets restoring them). Default: all. */
  jobs?: readonly string[];
  scope?: SecretScope;
  env?: NodeJS.ProcessEnv;
  log?: Logger;
  signal?: AbortSignal;
  /** Per check. */
  timeoutMs?: number;
  /** `--switch-wal`: postgres-base jobs force a WAL switch and wait for it in the repository. */
  switchWal?: boolean;
}

export interface DoctorResult extends DoctorReport {
  /** False when the config did not load: nothing else was checked (the CLI exits 2). */
  configLoaded: boolean;
}

/** Loads the config (a load failure is the one FAIL reported) and runs every check. */
export async function doctorConfigDir(dir: string, options: DoctorOptions = {}): Promise<DoctorResult> {
  let config: Config;
  try {
    config = await openConfig(dir, options.env ?? process.env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    const check: CheckResult = {
      subject: "config",
      name: "config",
      status: "fail",
      detail: error.issues.map(formatConfigIssue).join("\n"),
      hint: "fix the files named above; backdrill validate shows the same with more context",
      durationMs: 0,
    };
    return { ...summarize([check]), configLoaded: false };
  }
  return { ...(await doctor(config, options)), configLoaded: true };
}

interface Selection {
  jobs: LoadedJob[];
  policies: LoadedPolicy[];
  drills: LoadedDrill[];
  /** Jobs whose drill targets are checked. */
  drilledJobs: Set<string>;
}

/** Which jobs, policies and drills are in scope; unknown job names are a UsageError (exit 2). */
function select(config: Config, names: readonly string[], scope: SecretScope): Selection {
  const chosen =
    names.length === 0 ? [...config.jobs.values()] : names.map((name) => jobByName(config, name));
  const chosenNames = new Set(chosen.map((job) => job.job.name));
  const drills =
    scope === "backup"
      ? []
      : [...config.drills.values()].filter((drill) =>
          drill.drill.targets.some((target) => chosenNames.has(target.job)),
        );
  const drilledJobs = new Set(
    drills
      .flatMap((drill) => drill.drill.targets.map((target) => target.job))
      .filter((job) => chosenNames.has(job)),
  );
  const jobs = scope === "drill" ? [] : chosen;
  const policyNames = new Set([
    ...jobs.map((job) => job.job.policy),
    ...[...drilledJobs].map((name) => config.jobs.get(name)?.job.policy ?? ""),
  ]);
  const policies = [...config.policies.values()].filter((policy) => policyNames.has(policy.policy.name));
  return { jobs, policies, drills, drilledJobs };
}

/** The secrets check: one FAIL per file with missing secrets, or one ok line. */
async function secretChecks(
  config: Config,
  selection: Selection,
  options: DoctorOptions,
): Promise<CheckSpec[]> {
  const subjects = new Map<string, string>();
  for (const policy of selection.policies) subjects.set(policy.file, `policy ${policy.policy.name}`);
  for (const job of selection.jobs) subjects.set(job.file, `job ${job.job.name}`);
  for (const drill of selection.drills) subjects.set(drill.file, `drill ${drill.drill.name}`);
  let issues: ConfigIssue[];
  try {
    // Recipient lists have their own checks (per policy, and the kinds' own); not twice.
    issues = await checkSecrets(config, {
      env: options.env ?? process.env,
      scope: options.scope ?? "all",
      recipients: false,
    });
  } catch (error) {
    return [{ subject: "secrets", name: "secrets", run: async () => Promise.reject(error) }];
  }
  const drillFiles = new Map(selection.drills.map((drill) => [drill.file, drill.drill]));
  // A drill target of a job outside the selection is not this run's business.
  const targetInScope = (issue: ConfigIssue): boolean => {
    const index = /^targets\.(\d+)\./.exec(issue.path)?.[1];
    const target = index === undefined ? undefined : drillFiles.get(issue.file)?.targets[Number(index)];
    return target === undefined || selection.drilledJobs.has(target.job);
  };
  const relevant = issues.filter((issue) => subjects.has(issue.file) && targetInScope(issue));
  if (relevant.length === 0) {
    return [
      {
        subject: "secrets",
        name: "secrets",
        run: async () => ok("every secret and key file in scope is present"),
      },
    ];
  }
  const byFile = new Map<string, ConfigIssue[]>();
  for (const issue of relevant) byFile.set(issue.file, [...(byFile.get(issue.file) ?? []), issue]);
  return [...byFile].map(([file, list]) => ({
    subject: subjects.get(file) ?? file,
    name: "secrets",
    run: async () =>
      fail(
        list.map((issue) => `${issue.path}: ${issue.message}`).join("; "),
        "export the variables (cron: in the crontab; systemd: EnvironmentFile=) or create the files, readable only by the backdrill user",
      ),
  }));
}

const count = (n: number, one: string, many: string): string => `${n} ${n === 1 ? one : many}`;

function usesDocker(selection: Selection): boolean {
  if (selection.drills.length > 0) return true;
  return selection.jobs.some((job) => kindOf(job.job.kind).usesDocker(job.job));
}

/** What a kind's checks get: the shared facts of this doctor run, bound to the job's policy. */
export function kindDoctorContext(context: DoctorContext, policy: LoadedPolicy): KindDoctorContext {
  return {
    env: context.env,
    timeoutMs: context.timeoutMs,
    signal: context.signal,
    scope: context.scope,
    switchWal: context.switchWal,
    configDir: context.config.dir,
    policy: policy.policy,
    repository: () => context.repository(policy),
    dockerVersion: () => context.dockerVersion(),
    imagePresent: (image) => context.imagePresent(image),
  };
}

/** Every check of the selection, in the order they are printed. */
async function plan(
  context: DoctorContext,
  selection: Selection,
  options: DoctorOptions,
): Promise<CheckSpec[]> {
  const config = context.config;
  const specs: CheckSpec[] = [
    {
      subject: "config",
      name: "config",
      run: async () =>
        ok(
          `${count(config.policies.size, "policy", "policies")}, ${count(config.jobs.size, "job", "jobs")}, ${count(config.drills.size, "drill", "drills")} from ${config.dir}`,
        ),
    },
    ...(await secretChecks(config, selection, options)),
  ];
  if ((context.env[WEBHOOK_ENV] ?? "").trim() !== "") {
    specs.push({
      subject: "webhook",
      name: "webhook",
      run: async () => {
        const problem = webhookWarning(context.env);
        return problem === undefined
          ? ok(`${WEBHOOK_ENV} set (https or this host)`)
          : warn(problem, `use the https:// URL of the monitoring service`);
      },
    });
  }
  // A drill host holds read-only repository credentials: nothing there writes.
  for (const policy of selection.policies)
    specs.push(...policyChecks(context, policy, options.scope !== "drill"));
  if (usesDocker(selection)) specs.push(dockerCheck(context));
  for (const job of selection.jobs) {
    const policy = policyOf(config, job);
    specs.push(...(await kindOf(job.job.kind).doctor(kindDoctorContext(context, policy), job)));
    specs.push(lockCheck(context, job, policy));
  }
  for (const drill of selection.drills)
    specs.push(...(await drillChecks(context, drill, selection.drilledJobs)));
  return specs;
}

export async function doctor(config: Config, options: DoctorOptions = {}): Promise<DoctorReport> {
  const scope = options.scope ?? "all";
  const selection = select(config, options.jobs ?? [], scope);
  const timeoutMs = options.timeoutMs ?? DEFAULT_CHECK_TIMEOUT_MS;
  const results = await withScope(
    async (resources) => {
      const context = createDoctorContext({
        config,
        env: options.env ?? process.env,
        timeoutMs,
        signal: options.signal,
        scope: resources,
        switchWal: options.switchWal ?? false,
      });
      const specs = await plan(context, selection, options);
      return runChecks(specs, { timeoutMs, concurrency: CONCURRENCY, signal: options.signal });
    },
    (what, error) => options.log?.warn({ what, error: String(error) }, "doctor: cleanup failed"),
  );
  return summarize(results);
}
