/**
 * rabbitmq through the real backup and drill runners against real brokers: a source broker
 * populated with every kind of definition (several vhosts, users with tags and limits,
 * permissions, topic permissions, policies, operator policies, vhost limits, a global parameter,
 * quorum and classic queues with arguments, exchanges of each type, bindings with arguments),
 * backed up into an encrypted local repository, drilled into a throwaway broker of the test
 * image (round trip equal), and restored into another broker. A definitions file from a 3.x
 * broker with classic mirroring policies is drilled on 4.x and the refused policies named.
 */
import { readFile, mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Readable, Writable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runJobBackup } from "../../../src/runner/backup.js";
import type { DrillTarget } from "../../../src/config/drill-schema.js";
import type { RabbitmqJob } from "../../../src/kinds/rabbitmq/job-schema.js";
import { generateIdentity } from "../../../src/crypto/keys.js";
import { runDrillTarget } from "../../../src/runner/drill-target.js";
import {
  countDefinitions,
  findClassicMirroring,
  parseDefinitions,
} from "../../../src/kinds/rabbitmq/definitions.js";
import { rabbitmqKind } from "../../../src/kinds/rabbitmq/index.js";
import type { RabbitmqFacts } from "../../../src/kinds/rabbitmq/facts.js";
import { createLogger } from "../../../src/log/logger.js";
import { FACTS_ARTIFACT } from "../../../src/repository/manifest.js";
import { Repository } from "../../../src/repository/repository.js";
import { LocalBackend } from "../../../src/storage/local/local-backend.js";
import { RabbitMQContainer, type StartedRabbitMQContainer } from "../../support/containers/rabbitmq.js";
import { rabbitmqImage } from "../../support/images.js";
import { restoreWith } from "../../support/restore.js";

process.env.TESTCONTAINERS_RYUK_DISABLED = "true";

let source: StartedRabbitMQContainer;
let dir: string;
let repository: Repository;
let keys: { identity: string; recipient: string };
let logText = "";

const log = createLogger({
  level: "debug",
  pretty: false,
  destination: new Writable({
    write(chunk: Buffer, _e, cb) {
      logText += chunk.toString();
      cb();
    },
  }),
});

const api = (mq: StartedRabbitMQContainer, method: string, pathname: string, body?: unknown) =>
  mq.api(method, pathname, body);

const v = encodeURIComponent;

async function populate(mq: StartedRabbitMQContainer): Promise<void> {
  await api(mq, "PUT", "/vhosts/app", {
    description: "the application",
    tags: "prod,eu",
    default_queue_type: "quorum",
  });
  await api(mq, "PUT", "/vhosts/billing", { description: "billing" });
  for (const vhost of ["app", "billing"]) {
    await api(mq, "PUT", `/permissions/${vhost}/${mq.user}`, { configure: ".*", write: ".*", read: ".*" });
  }
  await api(mq, "PUT", "/users/svc-app", { password: "svc-app-pw", tags: "monitoring,management" });
  await api(mq, "PUT", "/users/svc-billing", { password: "svc-billing-pw", tags: "" });
  await api(mq, "PUT", "/user-limits/svc-app/max-connections", { value: 20 });
  await api(mq, "PUT", "/user-limits/svc-app/max-channels", { value: 200 });
  await api(mq, "PUT", "/permissions/app/svc-app", { configure: "^app\\.", write: ".*", read: ".*" });
  await api(mq, "PUT", "/permissions/billing/svc-billing", {
    configure: "",
    write: "^invoices$",
    read: ".*",
  });
  await api(mq, "PUT", "/topic-permissions/app/svc-app", {
    exchange: "amq.topic",
    write: "^app\\.",
    read: ".*",
  });
  await api(mq, "PUT", "/policies/app/ttl", {
    pattern: "^app\\.ttl\\.",
    definition: { "message-ttl": 60000, "dead-letter-exchange": "app.dlx" },
    "apply-to": "queues",
    priority: 1,
  });
  await api(mq, "PUT", "/policies/billing/ae", {
    pattern: "^invoices$",
    definition: { "alternate-exchange": "unrouted" },
    "apply-to": "exchanges",
  });
  await api(mq, "PUT", "/operator-policies/app/cap", {
    pattern: ".*",
    definition: { "max-length": 100000 },
    "apply-to": "queues",
    priority: 0,
  });
  await api(mq, "PUT", "/vhost-limits/billing/max-queues", { value: 50 });
  await api(mq, "PUT", "/global-parameters/backdrill-test", { value: { owner: "ops", tier: 1 } });

  await api(mq, "PUT", "/queues/app/app.orders", {
    durable: true,
    arguments: { "x-queue-type": "quorum", "x-delivery-limit": 5, "x-quorum-initial-group-size": 1 },
  });
  await api(mq, "PUT", "/queues/app/app.ttl.retry", { durable: true, arguments: {} }); // vhost default: quorum
  await api(mq, "PUT", "/queues/app/app.dead", {
    durable: true,
    arguments: { "x-queue-type": "classic", "x-max-length": 1000, "x-overflow": "reject-publish" },
  });
  await api(mq, "PUT", `/queues/${v("/")}/legacy.classic`, {
    durable: true,
    arguments: { "x-message-ttl": 30000, "x-max-priority": 10 },
  });
  await api(mq, "PUT", "/queues/billing/invoices.q", {
    durable: true,
    arguments: { "x-queue-type": "classic", "x-dead-letter-exchange": "app.dlx" },
  });

  await api(mq, "PUT", "/exchanges/app/app.direct", { type: "direct", durable: true });
  await api(mq, "PUT", "/exchanges/app/app.fanout", { type: "fanout", durable: true });
  await api(mq, "PUT", "/exchanges/app/app.topic", { type: "topic", durable: true, internal: false });
  await api(mq, "PUT", "/exchanges/app/app.headers", {
    type: "headers",
    durable: true,
    arguments: { "alternate-exchange": "app.fanout" },
  });
  await api(mq, "PUT", "/exchanges/app/app.dlx", { type: "fanout", durable: true, internal: true });
  await api(mq, "PUT", "/exchanges/billing/invoices", { type: "direct", durable: true });
  await api(mq, "PUT", "/exchanges/billing/unrouted", { type: "fanout", durable: true, auto_delete: false });

  await api(mq, "POST", "/bindings/app/e/app.direct/q/app.orders", {
    routing_key: "order.created",
    arguments: {},
  });
  await api(mq, "POST", "/bindings/app/e/app.topic/q/app.orders", { routing_key: "order.#", arguments: {} });
  await api(mq, "POST", "/bindings/app/e/app.headers/q/app.orders", {
    routing_key: "",
    arguments: { "x-match": "any", region: "eu", priority: 1 },
  });
  await api(mq, "POST", "/bindings/app/e/app.fanout/e/app.topic", {
    routing_key: "",
    arguments: { "x-note": "e2e" },
  });
  await api(mq, "POST", "/bindings/app/e/app.dlx/q/app.dead", { routing_key: "", arguments: {} });
  await api(mq, "POST", "/bindings/billing/e/invoices/q/invoices.q", {
    routing_key: "invoices",
    arguments: {},
  });
}

function job(mq: StartedRabbitMQContainer, name = "task-rabbitmq"): RabbitmqJob {
  return {
    name,
    kind: "rabbitmq",
    policy: "nightly",
    url: mq.managementUrl,
    user: mq.user,
    passwordEnv: "MQ_PASSWORD",
  } as RabbitmqJob;
}

const context = (env: NodeJS.ProcessEnv = {}) => ({
  log,
  signal: new AbortController().signal,
  env,
  configDir: process.cwd(),
});

function drill(j: RabbitmqJob, checks?: DrillTarget["checks"]) {
  return runDrillTarget(
    {
      job: j,
      target: {
        job: j.name,
        snapshot: "latest",
        image: rabbitmqImage(),
        ...(checks ? { checks } : {}),
      } as DrillTarget,
      kind: rabbitmqKind,
      repository,
      snapshot: "latest",
      identities: [keys.identity],
      rtoSeconds: 600,
    },
    context(),
  );
}

async function restore(
  j: RabbitmqJob,
  options: { to: string; force: boolean },
  dryRun: boolean,
  env: NodeJS.ProcessEnv = {},
) {
  const outcome = await restoreWith({
    kind: rabbitmqKind,
    job: j,
    repository,
    identity: keys.identity,
    to: options.to,
    force: options.force,
    dryRun,
    env,
    log,
  });
  return outcome.plan;
}

beforeAll(async () => {
  source = await new RabbitMQContainer().start();
  await populate(source);
  dir = await mkdtemp(path.join(os.tmpdir(), "backdrill-rabbitmq-"));
  repository = new Repository(new LocalBackend({ path: dir }));
  keys = await generateIdentity();
});

afterAll(async () => {
  await repository?.backend.close();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  await source?.stop();
});

describe("rabbitmq definitions", () => {
  it("backs up the definitions with counts per vhost and the server version", async () => {
    const result = await runJobBackup(
      { job: job(source), kind: rabbitmqKind, repository, recipients: [keys.recipient] },
      context({ MQ_PASSWORD: source.password }),
    );
    expect(result.result.error).toBeUndefined();
    expect(result.manifest?.meta.serverVersion).toMatch(/^4\./);
    const facts = await repository.readFacts<RabbitmqFacts>(result.manifest!, [keys.identity]);
    expect(facts.server.version).toMatch(/^4\./);
    expect(facts.counts).toMatchObject({ users: 3, vhosts: 3, globalParameters: 1 });
    expect(facts.counts.perVhost.app).toEqual({
      queues: 3,
      exchanges: 5,
      bindings: 5,
      policies: 1,
      operatorPolicies: 1,
      parameters: 0,
      permissions: 2,
      topicPermissions: 1,
    });
    expect(facts.counts.perVhost.billing).toMatchObject({
      queues: 1,
      exchanges: 2,
      bindings: 1,
      parameters: 1,
      policies: 1,
    });
    expect(JSON.stringify(result.manifest)).not.toContain("svc-app");
    expect(logText).not.toContain(source.password);
  });

  it("drills into a throwaway broker: the round trip is equal", async () => {
    const report = await drill(job(source));
    expect(report.checks.filter((c) => !c.ok)).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.checks.map((c) => c.name)).toEqual(
      expect.arrayContaining(["import", "definitions equal", "counts"]),
    );
    expect(report.checks.find((c) => c.name === "counts")?.detail).toContain(
      "app: 3 queues, 5 exchanges, 5 bindings, 1 policies, 1 operatorPolicies, 2 permissions, 1 topicPermissions",
    );
  });

  it("restores into another broker: the plan lists what is created and warns about existing objects", async () => {
    const target = await new RabbitMQContainer().withCredentials("admin", "restore-pw-55aa").start();
    try {
      await api(target, "PUT", "/vhosts/app", { default_queue_type: "classic" });
      await api(target, "PUT", "/queues/app/app.orders", {
        durable: true,
        arguments: { "x-queue-type": "classic" },
      });
      const to = target.managementUrl.replace("http://", "http://admin:restore-pw-55aa@");
      const plan = await restore(job(source), { to, force: false }, true);
      const text = [...plan.steps, ...plan.warnings].join("\n");
      expect(text).not.toContain("restore-pw-55aa");
      expect(text).toContain("queues: create 4");
      expect(text).toMatch(/1 already exist and are skipped, left as they are \(queue app\/app\.orders\)/);
      expect(text).toContain("never deletes");
      expect(text).toMatch(/users: create 3 \(user backdrill, user svc-app, user svc-billing\)/);
      expect(text).toContain("queue /legacy.classic");
      expect(text).toMatch(
        /already holds definitions \(vhost\(s\) app; vhost app: 1 queues\): the restore refuses without --force/,
      );
      expect(await api(target, "GET", "/queues/app/app.dead").catch((e: Error) => e.message)).toMatch(/404/);

      // Credentials from the environment work too. An import merges, so a broker that already
      // holds definitions is refused (exit 2) unless --force; with it the import adds everything.
      const env = {
        BACKDRILL_RESTORE_RABBITMQ_USER: "admin",
        BACKDRILL_RESTORE_RABBITMQ_PASSWORD: "restore-pw-55aa",
      };
      await expect(
        restore(job(source), { to: target.managementUrl, force: false }, false, env),
      ).rejects.toThrow(/already holds definitions .*refusing to restore over them/);
      expect(await api(target, "GET", "/queues/app/app.dead").catch((e: Error) => e.message)).toMatch(/404/);
      await restore(job(source), { to: target.managementUrl, force: true }, false, env);
      const defs = parseDefinitions(await api(target, "GET", "/definitions"), "target");
      expect(defs.lists.queues.map((q) => `${String(q.vhost)}/${String(q.name)}`).sort()).toEqual(
        [
          "//legacy.classic",
          "app/app.dead",
          "app/app.orders",
          "app/app.ttl.retry",
          "billing/invoices.q",
        ].sort(),
      );
      // The existing queue was skipped, as the plan said.
      const orders = defs.lists.queues.find((q) => q.name === "app.orders");
      expect((orders?.arguments as Record<string, unknown>)["x-queue-type"]).toBe("classic");
      expect(defs.lists.bindings).toHaveLength(6);

      await expect(restore(job(source), { to: target.managementUrl, force: false }, false)).rejects.toThrow(
        /no credentials .*BACKDRILL_RESTORE_RABBITMQ_USER/,
      );
    } finally {
      await target.stop();
    }
  });

  it("reports a 3.x definitions file's classic mirroring policies on 4.x, by name", async () => {
    const raw = await readFile(new URL("../../fixtures/rabbitmq/definitions-3.12-ha.json", import.meta.url));
    const defs = parseDefinitions(JSON.parse(raw.toString("utf8")), "fixture");
    const writer = repository.createSnapshot({
      job: "legacy-rabbitmq",
      kind: "rabbitmq",
      recipients: [keys.recipient],
    });
    await writer.addArtifact("definitions.json", Readable.from([raw]));
    await writer.addJson(FACTS_ARTIFACT, {
      kind: "rabbitmq",
      version: 1,
      server: {
        version: "3.12.13",
        product: "RabbitMQ",
        managementVersion: "3.12.13",
        clusterName: "rabbit@legacy-host",
      },
      artifact: "definitions.json",
      counts: countDefinitions(defs),
      classicMirroring: findClassicMirroring(defs),
    });
    await writer.commit({ serverVersion: "3.12.13" });
    const legacy = job(source, "legacy-rabbitmq");

    const stripped = await drill(legacy);
    expect(stripped.checks.filter((c) => !c.ok)).toEqual([]);
    const mirroring = stripped.checks.find((c) => c.name === "classic mirroring");
    expect(mirroring?.detail).toContain(
      "policy ha-all (vhost legacy): ha-mode, ha-sync-mode (nothing else; the policy is dropped)",
    );
    expect(mirroring?.detail).toContain("policy ha-two-ttl (vhost legacy): ha-mode, ha-params");
    expect(mirroring?.detail).toMatch(/RabbitMQ 4\.\d+\.\d+ refuses classic mirroring/);

    const refused = await drill(legacy, { stripClassicMirroring: false });
    expect(refused.ok).toBe(false);
    expect(refused.checks.find((c) => c.name === "classic mirroring")).toMatchObject({ ok: false });
    const importCheck = refused.checks.find((c) => c.name === "import");
    expect(importCheck?.ok).toBe(false);
    expect(importCheck?.detail).toMatch(/ha-mode.*not recognised policy settings/s);
    expect(importCheck?.detail).toContain("legacy/ha-all");
    expect(refused.checks.find((c) => c.name === "definitions equal")?.detail).toContain(
      "queue legacy/work.orders: missing after import",
    );
  });
});
