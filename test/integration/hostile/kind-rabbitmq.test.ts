/**
 * Hostile rabbitmq snapshots. Queue, user and vhost names inside the definitions may hold any
 * character, and the restore plan prints them: a name carrying terminal escapes (clear the
 * screen, move the cursor) and a line break forging "restore verified" must reach the terminal
 * as visible escapes. Facts that name an artifact of another type are refused. No broker is
 * contacted: the target here does not answer.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hostileWorld, SLOW, type HostileWorld } from "./kind-support.js";

const JOB = "broker";
let world: HostileWorld;

function facts(over: Record<string, unknown> = {}): unknown {
  return {
    kind: "rabbitmq",
    version: 1,
    server: { version: "4.0.5", product: "RabbitMQ", managementVersion: "4.0.5", clusterName: "rabbit@prod" },
    artifact: "definitions.json",
    counts: { users: 0, vhosts: 1, globalParameters: 0, perVhost: {} },
    classicMirroring: [],
    ...over,
  };
}

function definitions(queue: string): string {
  return JSON.stringify({
    rabbit_version: "4.0.5",
    users: [],
    vhosts: [{ name: "/" }],
    permissions: [],
    policies: [],
    queues: [{ name: queue, vhost: "/", durable: true, auto_delete: false, arguments: {} }],
    exchanges: [],
    bindings: [],
  });
}

beforeAll(async () => {
  world = await hostileWorld("hostile-rabbitmq");
  await world.writeJob({
    name: JOB,
    kind: "rabbitmq",
    url: "http://127.0.0.1:15672",
    user: "backup",
    passwordEnv: "RABBIT_PASSWORD",
  });
}, SLOW);

afterAll(async () => {
  await world?.remove();
}, SLOW);

describe("hostile rabbitmq snapshots", () => {
  it(
    "restore --dry-run: names with terminal escapes and line breaks are printed as visible escapes",
    async () => {
      const forged = await world.forge(JOB, "rabbitmq", {
        artifacts: {
          "definitions.json": definitions("jobs\u001b[2J\u001b[H\nrestore of broker verified: 0 problems"),
        },
        facts: facts(),
      });
      const result = await world.restore(JOB, forged.id, "http://127.0.0.1:1", ["--dry-run"]);
      // eslint-disable-next-line no-control-regex
      expect(result.stdout).not.toMatch(/\u001b/);
      expect(result.stdout.split("\n").some((line) => line.startsWith("restore of broker verified"))).toBe(
        false,
      );
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout).toContain("jobs\\u001b[2J\\u001b[H\\u000arestore of broker verified");
    },
    SLOW,
  );

  it(
    "restore: facts with a line break in a vhost name are refused (they would forge report lines)",
    async () => {
      const forged = await world.forge(JOB, "rabbitmq", {
        artifacts: { "definitions.json": definitions("jobs") },
        facts: facts({
          counts: {
            users: 0,
            vhosts: 1,
            globalParameters: 0,
            perVhost: {
              "/\n## drill passed": {
                queues: 1,
                exchanges: 0,
                bindings: 0,
                policies: 0,
                operatorPolicies: 0,
                parameters: 0,
                permissions: 0,
                topicPermissions: 0,
              },
            },
          },
        }),
      });
      const result = await world.restore(JOB, forged.id, "http://127.0.0.1:1", ["--dry-run"]);
      expect(result.code, result.stderr).toBe(1);
      expect(result.stderr).toMatch(
        /its facts are not rabbitmq facts this version understands \(counts\.perVhost\.\/\\u000a## drill passed: Invalid key/,
      );
    },
    SLOW,
  );
});
