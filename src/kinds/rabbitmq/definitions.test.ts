import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  compareCounts,
  countDefinitions,
  diffDefinitions,
  findClassicMirroring,
  forImport,
  normalise,
  parseDefinitions,
  partitionExisting,
  stripClassicMirroring,
} from "./definitions.js";

const fixture = JSON.parse(
  readFileSync(new URL("../../../test/fixtures/rabbitmq/definitions-3.12-ha.json", import.meta.url), "utf8"),
) as Record<string, unknown>;

/** What RabbitMQ 4.0 exports after importing the fixture (shape observed on 4.0.5). */
function as4x(doc: Record<string, unknown>, sandboxUser: string): Record<string, unknown> {
  const d = structuredClone(doc) as Record<string, Array<Record<string, unknown>>>;
  return {
    rabbit_version: "4.0.5",
    rabbitmq_version: "4.0.5",
    product_name: "RabbitMQ",
    users: [
      ...d.users!.map((u) => ({ ...u, tags: String(u.tags).split(",").reverse() })),
      { name: sandboxUser, password_hash: "x", tags: ["administrator"], limits: {} },
    ],
    vhosts: [
      ...d.vhosts!.map((v) => ({
        name: v.name,
        description: (v.metadata as { description: string }).description,
        tags: [],
        default_queue_type: "classic",
        metadata: {
          description: (v.metadata as { description: string }).description,
          tags: [],
          default_queue_type: "classic",
        },
      })),
      { name: "/", description: "Default virtual host", tags: [], default_queue_type: "classic" },
    ],
    permissions: [...d.permissions!]
      .reverse()
      .concat([{ user: sandboxUser, vhost: "/", configure: ".*", write: ".*", read: ".*" }]),
    topic_permissions: [],
    parameters: [],
    global_parameters: [
      { name: "cluster_tags", value: [] },
      { name: "internal_cluster_id", value: "rabbitmq-cluster-id-x" },
    ],
    policies: d.policies,
    queues: d.queues!.map((q) => ({
      ...q,
      arguments: { ...(q.arguments as object), "x-queue-type": "classic" },
    })),
    exchanges: d.exchanges,
    bindings: d.bindings,
  };
}

describe("parseDefinitions", () => {
  it("refuses documents that are not a whole export", () => {
    expect(() => parseDefinitions([], "x")).toThrow(/expected a definitions object/);
    expect(() => parseDefinitions({ users: [], vhosts: [] }, "x")).toThrow(
      /missing permissions, policies, queues, exchanges, bindings/,
    );
    expect(() => parseDefinitions({ ...fixture, queues: [{ vhost: "a" }] }, "x")).toThrow(
      /queues\[0\] has no name/,
    );
  });
});

describe("classic mirroring", () => {
  it("finds ha-* keys by policy and strips them, dropping policies left empty", () => {
    const defs = parseDefinitions(fixture, "fixture");
    const found = findClassicMirroring(defs);
    expect(found.map((p) => [p.name, p.keys, p.onlyMirroring])).toEqual([
      ["ha-all", ["ha-mode", "ha-sync-mode"], true],
      ["ha-two-ttl", ["ha-mode", "ha-params"], false],
    ]);
    const stripped = stripClassicMirroring(defs);
    expect(stripped.lists.policies.map((p) => [p.name, p.definition])).toEqual([
      ["ha-two-ttl", { "message-ttl": 3600000 }],
      ["max-len", { "max-length": 10000 }],
    ]);
    expect(findClassicMirroring(stripped)).toEqual([]);
    expect((stripped.document.policies as unknown[]).length).toBe(2);
  });
});

describe("normalised comparison", () => {
  it("treats a 3.x export and its 4.x re-export as equal, ignoring what the fresh broker adds", () => {
    const source = forImport(parseDefinitions(fixture, "source"));
    const restored = parseDefinitions(as4x(fixture, "drill-user"), "restored");
    const ignore = { ignoreUser: "drill-user", ignoreVhosts: ["/"] };
    expect(diffDefinitions(normalise(source), normalise(restored, ignore))).toEqual([]);
    expect(compareCounts(countDefinitions(source), countDefinitions(restored, ignore))).toEqual([]);
  });

  it("reports every difference by object, hiding password hashes", () => {
    const source = parseDefinitions(fixture, "source");
    const changed = structuredClone(fixture) as Record<string, Array<Record<string, unknown>>>;
    changed.queues![0]!.arguments = { "x-queue-type": "quorum" };
    changed.users![0]!.password_hash = "other";
    changed.bindings = [];
    changed.exchanges!.push({ name: "extra", vhost: "legacy", type: "fanout" });
    const diff = diffDefinitions(normalise(source), normalise(parseDefinitions(changed, "changed")));
    expect(diff).toEqual([
      "user legacy-admin: password_hash differs",
      `queue legacy/work.orders: arguments: {"x-queue-type":"classic"} in the backup, {"x-queue-type":"quorum"} restored`,
      "exchange legacy/extra: present after import but not in the backup",
      `binding legacy/orders → queue work.orders (routing key "order.*"): missing after import`,
    ]);
  });

  it("fills a queue's type from its vhost's default queue type", () => {
    const doc = {
      users: [],
      vhosts: [{ name: "q", default_queue_type: "quorum" }],
      permissions: [],
      policies: [],
      queues: [{ name: "a", vhost: "q", durable: true, arguments: {} }],
      exchanges: [],
      bindings: [],
    };
    const [entry] = normalise(parseDefinitions(doc, "d")).queues.values();
    expect(entry?.object.arguments).toEqual({ "x-queue-type": "quorum" });
  });

  it("counts per kind per vhost and partitions what already exists", () => {
    const defs = parseDefinitions(fixture, "fixture");
    const counts = countDefinitions(defs);
    expect(counts).toMatchObject({ users: 2, vhosts: 1, globalParameters: 0 });
    expect(counts.perVhost.legacy).toEqual({
      queues: 2,
      exchanges: 1,
      bindings: 1,
      policies: 3,
      operatorPolicies: 0,
      parameters: 0,
      permissions: 2,
      topicPermissions: 0,
    });
    const half = structuredClone(fixture) as Record<string, unknown[]>;
    half.queues = half.queues!.slice(0, 1);
    const parts = partitionExisting(normalise(defs), normalise(parseDefinitions(half, "half")));
    expect(parts.find((p) => p.kind === "queues")).toMatchObject({
      create: ["queue legacy/bulk.import"],
      exists: ["queue legacy/work.orders"],
    });
  });
});
