/**
 * A stack drill (docs/architecture.md, "Stack drills"): every target restored into one new,
 * isolated Docker network under its service name, one after another in the drill file's order
 * (so put what others need first), each checked by its kind as in any drill; then the smoke test,
 * the application itself, against all of them. The stack RTO runs from the drill's start until the
 * smoke test passes. Config-free (the use case hands in how to run each target), so tests drive it.
 *
 * Every container, the network and the volumes belong to one scope, released when the smoke test
 * is over, whatever happened; a run killed before that is swept by the next (stack-sweep.ts).
 */
import { createStackNetwork, inspectStackNetwork, type NetworkEvidence } from "../../docker/stack-network.js";
import { sweepDeadStacks } from "../../docker/stack-sweep.js";
import type { CheckResult } from "../../kinds/contract.js";
import { withScope } from "../../lifecycle/scope.js";
import type { Logger } from "../../log/logger.js";
import { redact } from "../../log/redact.js";
import type { StackReport, StackServiceReport, TargetReport } from "../../report/types.js";
import type { TargetInStack } from "../drill-target.js";
import { isolationCheck, servicesPlacedCheck } from "./isolation.js";
import { smokeView, type ExposedService } from "./smoke-env.js";
import { runSmokeTest, type SmokeOutcome, type SmokeTestSpec } from "./smoke-test.js";

/** The smoke test's own alias in the network (a dot: no service can be named so). */
const SMOKE_ALIAS = "backdrill.smoke";

export interface StackTarget {
  service: string;
  job: string;
  kind: string;
  /** Runs the target through runDrillTarget with `stack` set; never throws (a failed report). */
  run(stack: TargetInStack): Promise<TargetReport>;
  /** The report of a target that could not start (interrupted). */
  notStarted(reason: string): TargetReport;
}

export interface StackDrillInput {
  drill: string;
  /** Epoch ms of the drill's start: the stack RTO's zero. */
  startedAt: number;
  targets: StackTarget[];
  smokeTest: SmokeTestSpec;
  /** Plain variables for the smoke test from the drill file. */
  smokeEnv: Readonly<Record<string, string>>;
  rtoSeconds: number | null;
}

export interface StackDrillContext {
  log: Logger;
  signal: AbortSignal;
}

export interface StackDrillResult {
  targets: TargetReport[];
  stack: StackReport;
}

const message = (error: unknown): string => redact(error instanceof Error ? error.message : String(error));

export async function runStackDrill(
  input: StackDrillInput,
  context: StackDrillContext,
): Promise<StackDrillResult> {
  const { log, signal } = context;
  const targets: TargetReport[] = [];
  const stack: StackReport = {
    network: "",
    ok: false,
    rtoSeconds: input.rtoSeconds,
    rtoMs: null,
    services: [],
    smokeTest: null,
    checks: [],
  };
  try {
    const swept = await sweepDeadStacks();
    if (swept.containers + swept.networks + swept.volumes > 0) {
      log.warn({ ...swept }, "removed what killed stack drills left behind");
    }
  } catch (error) {
    log.warn({ error: message(error) }, "could not sweep killed stack drills' leftovers");
  }
  const exposed: ExposedService[] = [];
  try {
    await withScope(
      async (scope) => {
        const network = await createStackNetwork(scope, input.drill);
        stack.network = network.name;
        log.info({ network: network.name, services: input.targets.length }, "stack drill: network created");
        for (const target of input.targets) {
          const startMs = Date.now() - input.startedAt;
          const hooks: TargetInStack = {
            placement: { network: network.name, alias: target.service, labels: network.labels },
            scope,
          };
          const report = signal.aborted
            ? target.notStarted("not started: interrupted")
            : await target.run(hooks);
          targets.push(report);
          exposed.push({
            service: target.service,
            job: target.job,
            kind: target.kind,
            exposed: hooks.service,
          });
          stack.services.push(serviceReport(target, report, hooks, startMs));
          log.info({ service: target.service, ok: report.ok }, "stack drill: service restored");
        }
        signal.throwIfAborted();
        let evidence: NetworkEvidence | undefined;
        const smoke = await runSmokeTest({
          spec: input.smokeTest,
          view: smokeView(exposed, input.smokeEnv),
          placement: { network: network.name, alias: SMOKE_ALIAS, labels: network.labels },
          services: input.targets.map((target) => target.service),
          scope,
          signal,
          log,
          drillStartedAt: input.startedAt,
          onStarted: async () => {
            evidence = await inspectStackNetwork(network);
          },
        });
        stack.smokeTest = smoke.report;
        if (evidence !== undefined) {
          stack.checks.push(isolationCheck(network.name, evidence));
          stack.checks.push(
            servicesPlacedCheck(
              evidence,
              exposed.map((item) => ({ service: item.service, port: item.exposed?.port })),
            ),
          );
        }
        stack.checks.push(...smokeChecks(smoke, targets));
        if (smoke.passedAt !== null) stack.rtoMs = smoke.passedAt - input.startedAt;
      },
      (what, error) => log.warn({ error: message(error) }, `stack drill: cleanup of ${what} failed`),
    );
  } catch (error) {
    stack.error = message(error);
    log.error({ error: stack.error }, "stack drill failed");
  }
  // Targets never reached (the network could not be created, or an interruption).
  for (const target of input.targets.slice(targets.length)) {
    targets.push(target.notStarted(stack.error ?? "not started"));
  }
  if (stack.rtoSeconds !== null && stack.rtoMs !== null) {
    const within = stack.rtoMs / 1000 <= stack.rtoSeconds;
    stack.checks.push({
      name: "within stack RTO",
      ok: within,
      detail: `application up ${(stack.rtoMs / 1000).toFixed(1)} s after the drill started; stack RTO ${stack.rtoSeconds} s`,
    });
  }
  stack.ok =
    stack.error === undefined &&
    stack.smokeTest?.ok === true &&
    stack.checks.length > 0 &&
    stack.checks.every((check) => check.ok);
  return { targets, stack };
}

function serviceReport(
  target: StackTarget,
  report: TargetReport,
  hooks: TargetInStack,
  startMs: number,
): StackServiceReport {
  const port = hooks.service?.port;
  return {
    service: target.service,
    job: target.job,
    kind: target.kind,
    address: port === undefined || port === null ? null : `${target.service}:${port}`,
    ok: report.ok,
    startMs,
    timings: report.timings,
  };
}

/** The smoke test's verdict, each line it reported, and whom it blames. */
function smokeChecks(smoke: SmokeOutcome, targets: readonly TargetReport[]): CheckResult[] {
  const report = smoke.report;
  const seconds = `${(report.durationMs / 1000).toFixed(1)} s`;
  const verdict =
    report.mode === "http"
      ? report.ok
        ? `the application answered after ${seconds}`
        : `the application did not answer as expected within ${seconds}`
      : report.exitCode === null
        ? `still running after ${seconds}: stopped`
        : `exit ${report.exitCode} after ${seconds}`;
  let blame = "";
  if (!report.ok) {
    const failedTargets = targets.filter((target) => !target.ok).map((target) => target.job);
    blame =
      report.failedServices.length > 0
        ? `; failing service(s): ${report.failedServices.join(", ")}`
        : failedTargets.length > 0
          ? `; it named no service, but these targets failed: ${failedTargets.join(", ")}`
          : "; it named no service (print `not ok <service>: why` lines to say which)";
  }
  const checks: CheckResult[] = [
    {
      name: "smoke test",
      ok: report.ok,
      detail: `${report.image}: ${verdict}${blame}${report.ok ? "" : `\n${report.output.split("\n").slice(-15).join("\n")}`}`,
    },
  ];
  for (const line of smoke.lines) {
    checks.push({
      name: `smoke: ${line.service}`,
      ok: line.ok,
      detail: line.text,
    });
  }
  return checks;
}
