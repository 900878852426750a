/**
 * `backdrill cron --kubernetes`: every object validates against the Kubernetes schema (the
 * kubernetes-models package, generated from Kubernetes' OpenAPI), secrets appear by reference
 * only, the age identity only in drill pods, and bad flags exit 2 through the CLI.
 */
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Deployment } from "kubernetes-models/apps/v1/Deployment";
import { CronJob } from "kubernetes-models/batch/v1/CronJob";
import { ConfigMap } from "kubernetes-models/v1/ConfigMap";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { runCli } from "../../test/support/run-cli.js";
import { openConfig } from "./config.js";
import { kubernetesManifests, objectName, type KubernetesOptions } from "./kubernetes-manifests.js";
import { readConfigTexts } from "./kubernetes-manifests-files.js";
import type { Container, KubernetesObject, PodSpec } from "./kubernetes-manifests-types.js";

/** Values that must never appear in the output: the generator's environment holds them. */
const SECRET_VALUES = { BACKUP_S3_SECRET: "s3-secret-value-1f9e", MQ_PASSWORD: "mq-password-value-7c2a" };

let dir: string;
const options: KubernetesOptions = {
  image: "registry.example/backdrill:0.1.0",
  namespace: "backups",
  secret: "backdrill-secrets",
  dockerHost: "tcp://docker.example:2376",
  prune: true,
};

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "backdrill-k8s-"));
  for (const section of ["policies", "jobs", "drills"]) await mkdir(join(dir, section));
  await writeFile(
    join(dir, "policies/nightly.yaml"),
    [
      "name: nightly",
      "repository:",
      "  type: s3",
      "  bucket: ${BUCKET:-backups}",
      "  region: us-east-1",
      "  accessKeyIdEnv: BACKUP_S3_KEY",
      "  secretAccessKeyEnv: BACKUP_S3_SECRET",
      "copies: [{ type: local, path: /srv/copy }]",
      "encryption: { recipientsFile: /etc/backdrill/recipients.txt }",
      "retention: { keepLast: 3 }",
      'schedule: "15 2 * * *"',
      "timezone: Europe/Moscow",
      "rpo: 26h",
    ].join("\n"),
  );
  await writeFile(
    join(dir, "jobs/mq.yaml"),
    "name: mq\nkind: rabbitmq\npolicy: nightly\nurl: http://mq:15672\nuser: backup\npasswordEnv: MQ_PASSWORD\n",
  );
  await writeFile(
    join(dir, "jobs/Task_DB.yaml"),
    [
      "name: Task_DB",
      "kind: postgres-dump",
      "policy: nightly",
      "connection: { host: db, user: backup, passwordFile: /etc/backdrill/db.password }",
      "tools: { image: postgres:17 }",
    ].join("\n"),
  );
  await writeFile(
    join(dir, "jobs/wal.yaml"),
    [
      "name: wal",
      "kind: postgres-base",
      "policy: nightly",
      "connection: { host: db, user: replicator, passwordEnv: REPL_PASSWORD }",
      "tools: { binDir: /usr/lib/postgresql/17/bin }",
      "spool: /var/spool/backdrill/wal",
    ].join("\n"),
  );
  await writeFile(
    join(dir, "drills/monthly.yaml"),
    [
      "name: monthly",
      'schedule: "0 4 1 * *"',
      "identityFile: /etc/backdrill/identity.txt",
      "reportDir: reports",
      "targets:",
      "  - { job: mq, image: rabbitmq:4-management }",
    ].join("\n"),
  );
  await writeFile(join(dir, "README.md"), "not a config file\n");
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function generate(overrides: Partial<KubernetesOptions> = {}): Promise<KubernetesObject[]> {
  const config = await openConfig(dir, { ...process.env, ...SECRET_VALUES });
  return kubernetesManifests(config, await readConfigTexts(config), { ...options, ...overrides });
}

function podOf(object: KubernetesObject): PodSpec {
  if (object.kind === "CronJob") return object.spec.jobTemplate.spec.template.spec;
  if (object.kind === "Deployment") return object.spec.template.spec;
  throw new Error("no pod");
}

function byName(objects: KubernetesObject[], name: string): KubernetesObject {
  const found = objects.find((object) => object.metadata.name === name);
  if (found === undefined)
    throw new Error(`no object ${name}: ${objects.map((o) => o.metadata.name).join(", ")}`);
  return found;
}

function allContainers(spec: PodSpec): Container[] {
  return [...(spec.initContainers ?? []), ...spec.containers];
}

describe("cron --kubernetes manifests", () => {
  it("validate against the Kubernetes object schema", async () => {
    const objects = await generate();
    expect(objects.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual([
      "ConfigMap/backdrill-config",
      `CronJob/${objectName("backdrill-backup", "Task_DB", 52)}`,
      "CronJob/backdrill-backup-mq",
      "CronJob/backdrill-backup-wal",
      "CronJob/backdrill-drill-monthly",
      "Deployment/backdrill-wal-ship-wal",
    ]);
    for (const object of objects) {
      // Through JSON, as kubectl would read the YAML: no undefined fields, plain data.
      const plain: unknown = JSON.parse(JSON.stringify(object));
      if (object.kind === "ConfigMap") new ConfigMap(plain as ConfigMap).validate();
      else if (object.kind === "CronJob") new CronJob(plain as CronJob).validate();
      else new Deployment(plain as Deployment).validate();
    }
    // The validator does reject what Kubernetes would: a container without a name, here.
    const cronJob = JSON.parse(JSON.stringify(objects[1])) as CronJob;
    const pod = cronJob.spec?.jobTemplate.spec?.template.spec;
    if (pod !== undefined) pod.containers = [{ image: "b:1" } as (typeof pod.containers)[number]];
    expect(() => new CronJob(cronJob).validate()).toThrow();
  });

  it("schedules like `backdrill cron`, never two runs at once, as a non-root user", async () => {
    const objects = await generate();
    const backup = byName(objects, "backdrill-backup-mq");
    if (backup.kind !== "CronJob") throw new Error("not a CronJob");
    expect(backup.spec.schedule).toBe("15 2 * * *");
    expect(backup.spec.timeZone).toBe("Europe/Moscow");
    expect(backup.spec.concurrencyPolicy).toBe("Forbid");
    const pod = podOf(backup);
    expect(pod.restartPolicy).toBe("Never");
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    // The backup runs first (init container); prune only after it succeeded.
    expect(pod.initContainers?.map((c) => c.args)).toContainEqual(["backup", "mq"]);
    expect(pod.containers.map((c) => c.args)).toEqual([["prune", "mq"]]);
    for (const container of allContainers(pod)) {
      expect(container.securityContext.readOnlyRootFilesystem).toBe(true);
      expect(container.resources.requests.memory).toBeTruthy();
      expect(container.image).toBe(options.image);
    }
    // The config, one section per mount (a reportDir inside the config dir needs a mount point).
    expect(pod.containers[0]?.volumeMounts).toContainEqual({
      name: "config",
      mountPath: "/etc/backdrill/config/jobs",
      subPath: "jobs",
      readOnly: true,
    });
    expect(
      backup.spec.jobTemplate.spec.template.metadata.annotations?.["backdrill.dev/config-sha256"],
    ).toMatch(/^[0-9a-f]{64}$/);
    const ship = byName(objects, "backdrill-wal-ship-wal");
    if (ship.kind !== "Deployment") throw new Error("not a Deployment");
    expect(ship.spec.replicas).toBe(1);
    expect(ship.spec.strategy.type).toBe("Recreate");
    expect(podOf(ship).containers[0]?.args).toEqual(["wal", "ship", "wal", "/var/spool/backdrill/wal"]);
    expect(podOf(ship).containers[0]?.volumeMounts).toContainEqual({
      name: "spool",
      mountPath: "/var/spool/backdrill/wal",
    });
  });

  it("holds the config files as written and secrets by reference only", async () => {
    const objects = await generate();
    const configMap = byName(objects, "backdrill-config");
    if (configMap.kind !== "ConfigMap") throw new Error("not a ConfigMap");
    expect(Object.keys(configMap.data).sort()).toEqual([
      "drills.monthly.yaml",
      "jobs.Task_DB.yaml",
      "jobs.mq.yaml",
      "jobs.wal.yaml",
      "policies.nightly.yaml",
    ]);
    expect(configMap.data["policies.nightly.yaml"]).toContain("${BUCKET:-backups}");
    const text = JSON.stringify(objects);
    for (const value of Object.values(SECRET_VALUES)) expect(text).not.toContain(value);
    const mq = allContainers(podOf(byName(objects, "backdrill-backup-mq")));
    const env = mq.find((c) => c.name === "backup")?.env ?? [];
    expect(env).toContainEqual({
      name: "MQ_PASSWORD",
      valueFrom: { secretKeyRef: { name: "backdrill-secrets", key: "MQ_PASSWORD" } },
    });
    expect(env).toContainEqual({
      name: "BACKUP_S3_SECRET",
      valueFrom: { secretKeyRef: { name: "backdrill-secrets", key: "BACKUP_S3_SECRET" } },
    });
    // ${VAR}s may have defaults: optional, so a missing key leaves the default in force.
    expect(env).toContainEqual({
      name: "BUCKET",
      valueFrom: { secretKeyRef: { name: "backdrill-secrets", key: "BUCKET", optional: true } },
    });
    for (const object of objects) {
      if (object.kind === "ConfigMap") continue;
      for (const container of allContainers(podOf(object)))
        for (const variable of container.env)
          expect(variable.value === undefined || variable.name === "DOCKER_HOST").toBe(true);
    }
    // Another job's password does not reach the RabbitMQ backup.
    expect(env.map((e) => e.name)).not.toContain("REPL_PASSWORD");
    // A password file is copied 0600 from the Secret and mounted where the job names it.
    const db = podOf(byName(objects, objectName("backdrill-backup", "Task_DB", 52)));
    expect(db.initContainers?.[0]?.command).toEqual([
      "install",
      "-m",
      "0600",
      "-t",
      "/run/backdrill/keys",
      "/run/backdrill/secret/db.password",
      "/run/backdrill/secret/recipients.txt",
    ]);
    expect(db.containers[0]?.volumeMounts).toContainEqual({
      name: "keys",
      mountPath: "/etc/backdrill/db.password",
      subPath: "db.password",
      readOnly: true,
    });
  });

  it("mounts the age identity only into drill pods, and the recipients only where backups run", async () => {
    const objects = await generate();
    const keysOf = (object: KubernetesObject) =>
      podOf(object).volumes.flatMap((volume) => volume.secret?.items.map((item) => item.key) ?? []);
    for (const object of objects) {
      if (object.kind === "ConfigMap") continue;
      const keys = keysOf(object);
      if (object.metadata.name === "backdrill-drill-monthly") {
        expect(keys).toEqual(["identity.txt"]);
        const drill = podOf(object).containers[0];
        expect(drill?.env).toContainEqual({ name: "DOCKER_HOST", value: "tcp://docker.example:2376" });
        expect(drill?.volumeMounts).toContainEqual({
          name: "reports",
          mountPath: "/etc/backdrill/config/reports",
        });
      } else {
        expect(keys).not.toContain("identity.txt");
        expect(keys).toContain("recipients.txt");
      }
    }
  });

  it("names the problem when Kubernetes cannot express the config", async () => {
    await expect(generate({ dockerHost: undefined })).rejects.toThrow(/--docker-host/);
    await expect(generate({ namespace: "Bad_NS" })).rejects.toThrow(/--namespace/);
    expect(objectName("backdrill-backup", "Task_DB", 52)).toMatch(/^backdrill-backup-task-db-[0-9a-f]{8}$/);
    expect(objectName("backdrill-backup", "x".repeat(64), 52)).toHaveLength(52);
  });
});

describe("backdrill cron --kubernetes (CLI)", () => {
  it("exits 2 naming the flag", async () => {
    const base = ["--config-dir", dir, "cron", "--kubernetes"];
    const noImage = await runCli(base);
    expect(noImage.code).toBe(2);
    expect(noImage.stderr).toContain("--image is required");
    const badHost = await runCli([...base, "--image", "b:1", "--docker-host", "ssh://host"]);
    expect(badHost.code).toBe(2);
    expect(badHost.stderr).toContain("--docker-host");
    const noEngine = await runCli([...base, "--image", "b:1"]);
    expect(noEngine.code).toBe(2);
    expect(noEngine.stderr).toContain("pass --docker-host");
    const imageWithoutKubernetes = await runCli(["--config-dir", dir, "cron", "--image", "b:1"]);
    expect(imageWithoutKubernetes.code).toBe(2);
    expect(imageWithoutKubernetes.stderr).toContain("--image is for --kubernetes");
  });

  it("turns the example config directory into valid objects, stack drills left out", async () => {
    const root = join(import.meta.dirname, "../..");
    const result = await runCli([
      "--config-dir",
      root,
      "cron",
      "--kubernetes",
      "--image",
      "registry.example/backdrill:0.1.0",
      "--docker-host",
      "tcp://drill-host.internal:2376",
    ]);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(
      "# Not here: stack drill stack needs the Docker engine on the drill host",
    );
    const objects = parseAllDocuments(result.stdout);
    const kinds: string[] = [];
    for (const document of Array.isArray(objects) ? objects : []) {
      const object = document.toJS() as { kind: string; metadata: { name: string } };
      kinds.push(`${object.kind}/${object.metadata.name}`);
      if (object.kind === "CronJob") new CronJob(object as CronJob).validate();
      else if (object.kind === "ConfigMap") new ConfigMap(object as ConfigMap).validate();
      else new Deployment(object as Deployment).validate();
    }
    expect(kinds).toContain("CronJob/backdrill-drill-monthly");
    expect(kinds).not.toContain("CronJob/backdrill-drill-stack");
    expect(kinds).toContain("CronJob/backdrill-backup-task-wal");
  });

  it("writes the manifests 0600 with --out, as YAML documents", async () => {
    const out = join(dir, "out", "backdrill.yaml");
    await mkdir(join(dir, "out"), { mode: 0o700 });
    const result = await runCli(
      [
        "--config-dir",
        dir,
        "cron",
        "--kubernetes",
        "--image",
        "b:1",
        "--docker-host",
        "unix:///var/run/docker.sock",
      ],
      SECRET_VALUES,
    );
    expect(result.code).toBe(0);
    const written = await runCli(
      [
        "--config-dir",
        dir,
        "cron",
        "--kubernetes",
        "--image",
        "b:1",
        "--docker-host",
        "unix:///var/run/docker.sock",
        "--out",
        out,
      ],
      SECRET_VALUES,
    );
    expect(written.code).toBe(0);
    expect((await stat(out)).mode & 0o777).toBe(0o600);
    const text = await readFile(out, "utf8");
    expect(text).toBe(result.stdout);
    const documents = parseAllDocuments(text);
    expect(Array.isArray(documents) ? documents.map((d) => (d.toJS() as { kind: string }).kind) : []).toEqual(
      ["ConfigMap", "CronJob", "CronJob", "CronJob", "CronJob", "Deployment"],
    );
    expect(text).toMatch(/must hold: .*MQ_PASSWORD.*identity\.txt/);
    for (const value of Object.values(SECRET_VALUES)) expect(text).not.toContain(value);
  });
});
