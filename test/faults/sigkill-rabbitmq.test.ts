/**
 * SIGKILL trials of a rabbitmq backup (issue 9): the definitions (users, vhosts, permissions,
 * policies, queues, exchanges, bindings) read from the management API and stored encrypted.
 * The repository invariants are checked by support/kill-trials.ts.
 *
 * Data: 300 queues, 150 exchanges and 300 bindings in a vhost, so the definitions export is a
 * few hundred KB; the export is still one HTTP request, so the work phase stays short.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RabbitMQContainer, type StartedRabbitMQContainer } from "../support/containers/rabbitmq.js";
import { makeFaultConfig, type FaultConfig } from "./support/fault-config.js";
import { runKillTrials } from "./support/kill-trials.js";

process.env.TESTCONTAINERS_RYUK_DISABLED = "true";

const JOB = "task-rabbitmq";
const USER = "backup";
const PASSWORD = "sigkill-mq-pw-2b8e";
let config: FaultConfig;
let mq: StartedRabbitMQContainer;

async function api(method: string, pathname: string, body: unknown): Promise<void> {
  await mq.api(method, pathname, body);
}

/** Runs the calls a few at a time (the management API is slow one by one, and two cores are busy). */
async function inParallel(calls: Array<() => Promise<void>>, limit = 8): Promise<void> {
  const queue = [...calls];
  await Promise.all(
    Array.from({ length: limit }, async () => {
      for (let call = queue.shift(); call !== undefined; call = queue.shift()) await call();
    }),
  );
}

beforeAll(async () => {
  config = await makeFaultConfig("sigkill-mq");
  mq = await new RabbitMQContainer().withCredentials(USER, PASSWORD).start();
  await api("PUT", "/vhosts/task", { description: "TasK application" });
  await api("PUT", `/permissions/task/${USER}`, { configure: ".*", write: ".*", read: ".*" });
  await inParallel(
    Array.from(
      { length: 150 },
      (_, i) => () => api("PUT", `/exchanges/task/task.x${i}`, { type: "topic", durable: true }),
    ),
  );
  await inParallel(
    Array.from({ length: 300 }, (_, i) => () => api("PUT", `/queues/task/task.q${i}`, { durable: true })),
  );
  await inParallel(
    Array.from(
      { length: 300 },
      (_, i) => () =>
        api("POST", `/bindings/task/e/task.x${i % 150}/q/task.q${i}`, { routing_key: `task.${i}.#` }),
    ),
  );
  await config.writeJob({
    name: JOB,
    kind: "rabbitmq",
    url: mq.managementUrl,
    user: USER,
    passwordEnv: "RABBITMQ_BACKUP_PASSWORD",
  });
});

afterAll(async () => {
  await mq?.stop();
  await config?.remove();
});

describe("SIGKILL during rabbitmq backups", () => {
  it("never leaves a half snapshot; the next run and prune clean up", async () => {
    const report = await runKillTrials({
      kind: "rabbitmq",
      job: JOB,
      configDir: config.configDir,
      repositoryDir: config.repositoryDir,
      identity: config.identity,
      env: { RABBITMQ_BACKUP_PASSWORD: PASSWORD },
    });
    console.log(report.summary);
    expect(report.trials.length).toBeGreaterThanOrEqual(Number(process.env.BACKDRILL_FAULT_TRIALS) || 20);
  });
});
