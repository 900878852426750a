/**
 * The use case behind a drill file with `stack:`: each target's job, policy and repository from
 * the configuration, handed to the stack runner (runner/stack/stack-drill.ts), which restores them
 * into one isolated network and runs the smoke test against them.
 */
import type { Config } from "../config/types.js";
import type { Drill } from "../config/drill-schema.js";
import { serviceOf } from "../config/stack-schema.js";
import { kindOf } from "../kinds/registry.js";
import type { Logger } from "../log/logger.js";
import { redact } from "../log/redact.js";
import { openRepository } from "../repository/open.js";
import { drillTargetPolicy } from "./copy.js";
import { runDrillTarget } from "../runner/drill-target.js";
import { runStackDrill, type StackDrillResult, type StackTarget } from "../runner/stack/stack-drill.js";
import { parseDurationSeconds } from "../schema/duration.js";
import { jobByName } from "./config.js";
import { failedTarget } from "../report/failed-target.js";

export interface StackDrillOptions {
  drill: Drill;
  configDir: string;
  identities: string[];
  log: Logger;
  signal: AbortSignal;
  env: NodeJS.ProcessEnv;
  onlyJobs: string[] | undefined;
  startedAt: Date;
}

export async function drillStack(config: Config, options: StackDrillOptions): Promise<StackDrillResult> {
  const { drill, env } = options;
  const spec = drill.stack;
  if (spec === undefined) throw new Error("internal: drillStack on a drill without stack:");
  const log = options.log.child({ drillName: drill.name, stack: true });
  const targets: StackTarget[] = drill.targets
    .filter((target) => options.onlyJobs === undefined || options.onlyJobs.includes(target.job))
    .map((target) => {
      const loaded = jobByName(config, target.job);
      const { job } = loaded;
      const rtoSeconds = target.rto === undefined ? null : parseDurationSeconds(target.rto);
      return {
        service: serviceOf(target),
        job: job.name,
        kind: job.kind,
        notStarted: (reason) => failedTarget(job.name, job.kind, rtoSeconds, reason),
        async run(stack) {
          try {
            const repository = await openRepository(
              drillTargetPolicy(config, job.name, target.fromCopy),
              env,
            );
            try {
              return await runDrillTarget(
                {
                  job,
                  jobFile: loaded.file,
                  target,
                  kind: kindOf(job.kind),
                  repository,
                  snapshot: target.snapshot,
                  identities: options.identities,
                  rtoSeconds,
                  stack,
                },
                { log, signal: options.signal, env, configDir: options.configDir },
              );
            } finally {
              await repository.backend.close();
            }
          } catch (error) {
            return failedTarget(
              job.name,
              job.kind,
              rtoSeconds,
              redact(error instanceof Error ? error.message : String(error)),
            );
          }
        },
      };
    });
  return runStackDrill(
    {
      drill: drill.name,
      startedAt: options.startedAt.getTime(),
      targets,
      smokeTest: {
        image: spec.smokeTest.image,
        command: spec.smokeTest.command,
        http: spec.smokeTest.http,
        timeoutMs: parseDurationSeconds(spec.smokeTest.timeout) * 1000,
      },
      smokeEnv: spec.smokeTest.env ?? {},
      rtoSeconds: spec.rto === undefined ? null : parseDurationSeconds(spec.rto),
    },
    { log, signal: options.signal },
  );
}
