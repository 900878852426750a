/**
 * The smoke test of a stack drill: the application, on the stack's network, with every service's
 * address and credentials in its environment and the restored secrets in a tmpfs (smoke-env.ts).
 * `command` mode: its exit code is the verdict. `http` mode: its server must answer the polled
 * URL with the expected status before the timeout. Either way its `ok`/`not ok <service>:` lines
 * become checks (tap.ts), and its output's tail goes into the report.
 */
import { startSmokeContainer } from "../../docker/smoke-container.js";
import type { StackPlacement } from "../../kinds/contract.js";
import type { Scope } from "../../lifecycle/scope.js";
import type { Logger } from "../../log/logger.js";
import type { SmokeTestReport } from "../../report/types.js";
import { SECRETS_ROOT, type SmokeView } from "./smoke-env.js";
import { failedServices, outputTail, parseSmokeLines, type SmokeLine } from "./tap.js";

export interface SmokeTestSpec {
  image: string;
  command: string[] | undefined;
  http: { port: number; path: string; status: number } | undefined;
  timeoutMs: number;
}

export interface SmokeOutcome {
  report: SmokeTestReport;
  lines: SmokeLine[];
  /** Epoch ms when it passed, or null. */
  passedAt: number | null;
}

const POLL_MS = 1000;
const REQUEST_TIMEOUT_MS = 10_000;
const MAX_BODY = 64 * 1024;

export interface SmokeRun {
  spec: SmokeTestSpec;
  view: SmokeView;
  placement: StackPlacement;
  services: readonly string[];
  scope: Scope;
  signal: AbortSignal;
  log: Logger;
  /** Epoch ms of the drill's start: the report's times are relative to it. */
  drillStartedAt: number;
  /** Called once the container exists and before it runs: the stack inspects its network then. */
  onStarted(): Promise<void>;
}

export async function runSmokeTest(input: SmokeRun): Promise<SmokeOutcome> {
  const { spec, signal } = input;
  const startedAt = Date.now();
  const container = await startSmokeContainer({
    image: spec.image,
    command: spec.command,
    env: input.view.env,
    network: input.placement,
    tmpfs: SECRETS_ROOT,
    mounts: input.view.mounts,
    port: spec.http?.port,
    scope: input.scope,
    signal,
  });
  await input.onStarted();
  for (const file of input.view.files) await container.writeFile(file.path, file.data);
  await container.go();
  input.log.info({ image: spec.image, files: input.view.files.length }, "stack smoke test started");

  let exitCode: number | null = null;
  let ok = false;
  let body = "";
  if (spec.http === undefined) {
    exitCode = await container.waitExit(spec.timeoutMs, signal);
    ok = exitCode === 0;
  } else {
    const url = `http://127.0.0.1:${container.localPort}${spec.http.path}`;
    const deadline = startedAt + spec.timeoutMs;
    let last = "no answer yet";
    while (!ok && Date.now() < deadline) {
      signal.throwIfAborted();
      if (!(await container.running())) {
        exitCode = await container.waitExit(1000, signal);
        last = `the server exited (code ${exitCode ?? "?"}) without answering`;
        break;
      }
      try {
        const response = await fetch(url, {
          signal: AbortSignal.any([signal, AbortSignal.timeout(REQUEST_TIMEOUT_MS)]),
        });
        body = (await response.text()).slice(0, MAX_BODY);
        ok = response.status === spec.http.status;
        last = `HTTP ${response.status}`;
      } catch (error) {
        signal.throwIfAborted();
        last = error instanceof Error ? error.message : String(error);
      }
      if (!ok) await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
    if (!ok) body = `${body}\n(${spec.http.path}: ${last})`.trim();
  }
  const passedAt = ok ? Date.now() : null;
  const logs = await container.logs().catch(() => ({ stdout: "", stderr: "" }));
  const said = spec.http === undefined ? logs.stdout : `${body}\n${logs.stdout}`;
  const lines = parseSmokeLines(said);
  const output = [
    spec.http === undefined ? "" : `--- GET ${spec.http.path} ---\n${body}`,
    logs.stdout.trim() === "" ? "" : `--- stdout ---\n${logs.stdout}`,
    logs.stderr.trim() === "" ? "" : `--- stderr ---\n${logs.stderr}`,
    exitCode === null && spec.http === undefined
      ? `(still running after ${Math.round(spec.timeoutMs / 1000)} s: stopped)`
      : "",
  ]
    .filter((part) => part !== "")
    .join("\n");
  return {
    lines,
    passedAt,
    report: {
      image: spec.image,
      mode: spec.http === undefined ? "command" : "http",
      ok,
      exitCode,
      startMs: startedAt - input.drillStartedAt,
      durationMs: Date.now() - startedAt,
      output: outputTail(output),
      failedServices: failedServices(lines, input.services),
    },
  };
}
