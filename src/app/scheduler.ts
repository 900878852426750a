/**
 * `backdrill schedule`: a long-running process that runs every job on its policy's `schedule` and
 * every drill on its own, with croner (5 fields, or 6 with seconds first; the policy's / drill's
 * `timezone`, default the host's zone).
 *
 *   - Never two runs of the same task at once in this process: a run still going when the next is
 *     due is skipped and logged (not queued: a backlog of nightly backups helps nobody). Across
 *     processes and hosts the job lock in the repository does the same (a locked job is logged as
 *     skipped, exit 3 semantics).
 *   - Different tasks run independently (the database dump does not wait for the files backup).
 *   - On abort (SIGTERM/SIGINT through the CLI's signal): no new run starts; running ones get the
 *     same signal, so engines stop their current step and the runner removes what was written
 *     (no manifest = no half snapshot); then `run` resolves and the process exits.
 *
 * The scheduler only knows "something that runs a task" (`TaskRunner`); `configRunner` is the real
 * one, going through `runBackups` / `runDrills` like the CLI does, so locks, metrics and webhooks
 * behave the same whether cron or this scheduler started the run.
 */
import { Cron } from "croner";
import { runBackups } from "./backup.js";
import { runDrills } from "./drill.js";
import type { Config } from "../config/types.js";
import { UsageError } from "../errors.js";
import type { Logger } from "../log/logger.js";
import { prune } from "./prune.js";
import { resolveEngine } from "../docker/engine.js";

export interface ScheduledTask {
  kind: "backup" | "drill";
  /** Job or drill name. */
  name: string;
  schedule: string;
  timezone?: string | undefined;
  /** Config file the schedule comes from, for messages. */
  file: string;
}

export interface TaskOutcome {
  ok: boolean;
  /** Set when another run held the lock: the run did not happen. */
  locked?: boolean;
  detail?: string;
}

/** "Something that runs a task"; the scheduler's only dependency. */
export interface TaskRunner {
  run(task: ScheduledTask, signal: AbortSignal): Promise<TaskOutcome>;
}

export interface TaskStats {
  started: number;
  succeeded: number;
  failed: number;
  locked: number;
  skipped: number;
  running: boolean;
}

/** Every job whose policy has a schedule, and every drill with one. */
export function scheduledTasks(config: Config): ScheduledTask[] {
  const tasks: ScheduledTask[] = [];
  for (const loaded of config.jobs.values()) {
    const policy = config.policies.get(loaded.job.policy);
    if (policy?.policy.schedule === undefined) continue;
    tasks.push({
      kind: "backup",
      name: loaded.job.name,
      schedule: policy.policy.schedule,
      timezone: policy.policy.timezone,
      file: policy.file,
    });
  }
  for (const loaded of config.drills.values()) {
    if (loaded.drill.schedule === undefined) continue;
    tasks.push({
      kind: "drill",
      name: loaded.drill.name,
      schedule: loaded.drill.schedule,
      timezone: loaded.drill.timezone,
      file: loaded.file,
    });
  }
  return tasks;
}

export interface SchedulerOptions {
  log: Logger;
  /** Aborting stops scheduling and is passed to running tasks. */
  signal: AbortSignal;
}

export class Scheduler {
  private readonly crons: Cron[] = [];
  private readonly running = new Map<string, Promise<void>>();
  readonly stats = new Map<string, TaskStats>();

  constructor(
    private readonly tasks: ScheduledTask[],
    private readonly runner: TaskRunner,
    private readonly options: SchedulerOptions,
  ) {
    if (tasks.length === 0) {
      throw new UsageError("nothing to schedule: no policy or drill has a schedule", {
        hint: 'add e.g. schedule: "15 2 * * *" to a policy (its jobs) or a drill',
      });
    }
    for (const task of tasks) this.stats.set(keyOf(task), emptyStats());
  }

  /** Starts every cron and resolves once aborted and every running task has finished. */
  async run(): Promise<void> {
    const { log, signal } = this.options;
    if (signal.aborted) return;
    for (const task of this.tasks) {
      const cron = new Cron(task.schedule, { timezone: task.timezone, name: keyOf(task) }, () =>
        this.fire(task),
      );
      this.crons.push(cron);
      log.info(
        {
          task: task.kind,
          name: task.name,
          schedule: task.schedule,
          timezone: task.timezone ?? "host",
          next: cron.nextRun()?.toISOString(),
        },
        "scheduled",
      );
    }
    await new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
    for (const cron of this.crons) cron.stop();
    const still = [...this.running.keys()];
    if (still.length > 0)
      log.info({ running: still }, "stopping: waiting for running tasks to finish or abort cleanly");
    await Promise.allSettled([...this.running.values()]);
    log.info("scheduler stopped");
  }

  /** One due run: skipped while the previous run of the same task is still going. */
  private fire(task: ScheduledTask): void {
    const key = keyOf(task);
    const stats = this.stats.get(key) ?? emptyStats();
    const { log, signal } = this.options;
    if (signal.aborted) return;
    if (this.running.has(key)) {
      stats.skipped += 1;
      log.warn({ task: task.kind, name: task.name }, "run skipped: the previous run is still going");
      return;
    }
    stats.started += 1;
    stats.running = true;
    const started = Date.now();
    log.info({ task: task.kind, name: task.name }, "run started");
    const done = this.runner
      .run(task, signal)
      .then(
        (outcome) => outcome,
        (error: unknown): TaskOutcome => ({
          ok: false,
          detail: error instanceof Error ? error.message : String(error),
        }),
      )
      .then((outcome) => {
        if (outcome.locked === true) stats.locked += 1;
        else if (outcome.ok) stats.succeeded += 1;
        else stats.failed += 1;
        const fields = {
          task: task.kind,
          name: task.name,
          ok: outcome.ok,
          durationMs: Date.now() - started,
          detail: outcome.detail,
        };
        if (outcome.locked === true) log.warn(fields, "run skipped: another process holds the job's lock");
        else if (outcome.ok) log.info(fields, "run finished");
        else log.error(fields, "run failed");
      })
      .finally(() => {
        stats.running = false;
        this.running.delete(key);
      });
    this.running.set(key, done);
  }
}

function keyOf(task: ScheduledTask): string {
  return `${task.kind}:${task.name}`;
}

function emptyStats(): TaskStats {
  return { started: 0, succeeded: 0, failed: 0, locked: 0, skipped: 0, running: false };
}

export interface ConfigRunnerOptions {
  log: Logger;
  env?: NodeJS.ProcessEnv;
  /** Apply the job's retention after each successful backup (default true). */
  pruneAfterBackup?: boolean;
}

/** The real runner: backups through `runBackups` (+ prune), drills through `runDrills`. */
export function configRunner(config: Config, options: ConfigRunnerOptions): TaskRunner {
  const env = options.env ?? process.env;
  return {
    async run(task, signal) {
      if (task.kind === "backup") {
        const [result] = await runBackups(config, {
          jobs: [task.name],
          all: false,
          log: options.log,
          signal,
          env,
        });
        if (result === undefined) return { ok: false, detail: "no result" };
        if (result.locked === true) return { ok: false, locked: true, detail: result.error ?? "" };
        if (!result.ok) return { ok: false, detail: result.error ?? "backup failed" };
        if (options.pruneAfterBackup !== false && !signal.aborted) {
          const report = await prune(config, {
            job: task.name,
            dryRun: false,
            log: options.log,
            signal,
            env,
            lifecycle: false,
          });
          const removed = report.jobs
            .flatMap((job) => job.snapshots)
            .filter((entry) => entry.removed === true).length;
          if (!report.ok)
            return { ok: false, detail: `snapshot ${result.snapshot ?? "?"} committed, but prune failed` };
          return { ok: true, detail: `snapshot ${result.snapshot ?? "?"}; prune removed ${removed}` };
        }
        return { ok: true, detail: `snapshot ${result.snapshot ?? "?"}` };
      }
      const runs = await runDrills(config, {
        drills: [task.name],
        all: false,
        log: options.log,
        signal,
        env,
      });
      const ok = runs.length > 0 && runs.every((run) => run.report.ok);
      return { ok, detail: runs.map((run) => run.files.markdown).join(", ") };
    },
  };
}

export interface ScheduleCommandOptions extends ConfigRunnerOptions {
  signal: AbortSignal;
}

/** `backdrill schedule`: runs until the signal aborts. */
export async function runSchedule(config: Config, options: ScheduleCommandOptions): Promise<Scheduler> {
  const tasks = scheduledTasks(config);
  checkOneEngine(config.drills, tasks, options.env ?? process.env);
  const scheduler = new Scheduler(tasks, configRunner(config, options), {
    log: options.log,
    signal: options.signal,
  });
  await scheduler.run();
  return scheduler;
}

/**
 * This process pins one Docker engine at its first drill (docker/engine.ts), and every docker
 * command after it (a backup's tools.image too) goes there: refused up front, not at 4 a.m., when
 * the scheduled drills name different engines, or one that is not DOCKER_HOST's while backups
 * run in the same process.
 */
export function checkOneEngine(
  drills: ReadonlyMap<string, { drill: { name: string; engine?: string | undefined } }>,
  tasks: readonly ScheduledTask[],
  env: NodeJS.ProcessEnv,
): void {
  const engines = new Map<string, string>();
  for (const task of tasks) {
    const loaded = task.kind === "drill" ? drills.get(task.name) : undefined;
    if (loaded === undefined) continue;
    const engine = resolveEngine({ engine: loaded.drill.engine, drill: loaded.drill.name }, env);
    engines.set(engine?.url ?? "(local default)", loaded.drill.name);
  }
  const fix =
    "schedule the drills on other engines from cron (backdrill cron) or in another backdrill schedule";
  if (engines.size > 1) {
    const named = [...engines].map(([url, drill]) => `${url} (drill ${drill})`).join(", ");
    throw new UsageError(`scheduled drills run on different Docker engines: ${named}; ${fix}`);
  }
  const [drillEngine] = [...engines.keys()];
  const defaultEngine = resolveEngine({ drill: "" }, env)?.url ?? "(local default)";
  if (
    drillEngine !== undefined &&
    drillEngine !== defaultEngine &&
    tasks.some((task) => task.kind === "backup")
  ) {
    throw new UsageError(
      `scheduled drill ${engines.get(drillEngine) ?? ""} runs on Docker engine ${drillEngine}, and this process's backups ` +
        `would follow it there: ${fix}`,
    );
  }
}
