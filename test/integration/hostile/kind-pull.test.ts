/**
 * Images are never pulled silently. A drill's `pull:` is `never` unless it says otherwise, for the
 * target's image and for the job's `tools.image` alike: an image that is not on the host fails the
 * target with one line naming it and how to get it, and nothing asks a registry for it. The
 * "registry" here is a decoy on this host that the Docker engine would connect to.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { postgresImage } from "../../support/images.js";
import { PG_PASSWORD_ENV } from "../../faults/support/fault-config.js";
import { hostileWorld, SLOW, startDecoy, type Decoy, type HostileWorld } from "./kind-support.js";

let world: HostileWorld;
let decoy: Decoy;
let missing: string;

const RABBIT_FACTS = {
  kind: "rabbitmq",
  version: 1,
  server: { version: "4.0.5", product: "RabbitMQ", managementVersion: "4.0.5", clusterName: null },
  artifact: "definitions.json",
  counts: { users: 0, vhosts: 1, globalParameters: 0, perVhost: {} },
  classicMirroring: [],
};
const DEFINITIONS = JSON.stringify({
  users: [],
  vhosts: [{ name: "/" }],
  permissions: [],
  policies: [],
  queues: [],
  exchanges: [],
  bindings: [],
});

beforeAll(async () => {
  world = await hostileWorld("hostile-pull");
  decoy = await startDecoy();
  missing = `127.0.0.1:${decoy.port}/backdrill-hostile/missing:1`;
  await world.writeJob({
    name: "broker",
    kind: "rabbitmq",
    url: "http://127.0.0.1:15672",
    user: "backup",
    passwordEnv: "RABBIT_PASSWORD",
  });
  await world.writeJob({
    name: "pgd-tools",
    kind: "postgres-dump",
    connection: {
      host: "127.0.0.1",
      port: 1,
      user: "test",
      passwordEnv: PG_PASSWORD_ENV,
      sslmode: "disable",
    },
    tools: { image: missing },
  });
}, SLOW);

afterAll(async () => {
  await decoy?.close();
  await world?.remove();
}, SLOW);

describe("images are never pulled silently", () => {
  it(
    "a drill image that is not on the host fails the target in one line; no registry is asked",
    async () => {
      const forged = await world.forge("broker", "rabbitmq", {
        artifacts: { "definitions.json": DEFINITIONS },
        facts: RABBIT_FACTS,
      });
      const { target } = await world.drill("pull-image", {
        job: "broker",
        snapshot: forged.id,
        image: missing,
      });
      expect(decoy.connections()).toBe(0);
      expect(target.ok).toBe(false);
      expect(target.error).toContain(
        `drill image ${missing} is not on this host (backdrill does not pull it: pull: never): docker pull ${missing}`,
      );
    },
    SLOW,
  );

  it(
    "a tools.image that is not on the host fails the drill's restore in one line; docker run does not pull it",
    async () => {
      const forged = await world.forge("pgd-tools", "postgres-dump", {
        facts: {
          kind: "postgres-dump",
          version: 1,
          server: { version: "17.12", versionNum: 170012 },
          pgDumpVersion: "17.12",
          pgDumpMajor: 17,
          format: "custom",
          globalsArtifact: null,
          rolePasswords: true,
          checksumAlgorithm: "md5-row-text-sum-v1",
          checksumMaxRows: 0,
          databases: [],
        },
      });
      const { target } = await world.drill("pull-tools", {
        job: "pgd-tools",
        snapshot: forged.id,
        image: postgresImage(),
        checks: { rowCounts: false, checksums: false, amcheck: false },
      });
      expect(decoy.connections()).toBe(0);
      expect(target.ok).toBe(false);
      const restore = target.checks.find((check) => check.name === "restore");
      expect(restore?.detail).toContain(
        `tools.image ${missing} is not on this host (backdrill does not pull it`,
      );
    },
    SLOW,
  );
});
