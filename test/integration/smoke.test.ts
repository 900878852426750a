/**
 * Smoke tests of the test bed itself: each locally built image starts through its container class
 * and does the one thing the engines will rely on. If these fail, every other integration test
 * would fail for reasons unrelated to backdrill.
 */
import { mkdtemp, rm, writeFile, mkdir } from "node:fs/promises";
import { createHash } from "node:crypto";
import { tmpdir } from "node:os";
import path from "node:path";
import {
  CreateBucketCommand,
  ListObjectVersionsCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
} from "@aws-sdk/client-s3";
import { PostgreSqlContainer } from "@testcontainers/postgresql";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import { TEST_LABEL_KEY, TEST_RUN_ENV, TEST_RUN_LABEL_KEY, testLabels } from "../support/docker.js";
import { postgresImage } from "../support/images.js";
import { PostgresContainer } from "../support/containers/postgres.js";
import { RabbitMQContainer } from "../support/containers/rabbitmq.js";
import { S3Container } from "../support/containers/s3.js";
import { SshdRsyncContainer } from "../support/containers/sshd-rsync.js";

describe("test bed smoke", { concurrent: true }, () => {
  it("runs PostgreSQL 17 with pgvector through @testcontainers/postgresql unchanged", async () => {
    // Plain PostgreSqlContainer on purpose: proves the image honours the official contract.
    const pg = await new PostgreSqlContainer(postgresImage()).withLabels(testLabels()).start();
    try {
      const psql = async (sql: string): Promise<string> => {
        const result = await pg.exec([
          "psql",
          "-X",
          "-q",
          "-v",
          "ON_ERROR_STOP=1",
          "-At",
          "-U",
          pg.getUsername(),
          "-d",
          pg.getDatabase(),
          "-c",
          sql,
        ]);
        expect(result.exitCode, result.stderr).toBe(0);
        return result.stdout.trim();
      };
      expect(await psql("show server_version_num")).toMatch(/^17\d{4}$/);
      await psql("create extension vector");
      await psql("create table items (id int primary key, embedding vector(3))");
      await psql("insert into items values (1, '[1,0,0]'), (2, '[0,1,0]'), (3, '[0,0,1]'), (4, '[1,1,0]')");
      await psql("create index items_hnsw on items using hnsw (embedding vector_l2_ops)");
      // Force the index: with four rows the planner would rather scan the table.
      const plan = await psql(
        "set enable_seqscan = off; explain select id from items order by embedding <-> '[1,0.1,0]' limit 2",
      );
      expect(plan).toContain("items_hnsw");
      expect(
        await psql(
          "set enable_seqscan = off; select id from items order by embedding <-> '[1,0.1,0]' limit 2",
        ),
      ).toBe("1\n4");
    } finally {
      await pg.stop();
    }
  });

  it("our PostgresContainer exposes its connection and labels its container", async () => {
    const pg = await new PostgresContainer()
      .withDatabase("task")
      .withUsername("owner")
      .withPassword("s3cret")
      .start();
    try {
      expect(pg.host).toBe("127.0.0.1");
      expect(pg.connectionUri).toBe(`postgres://owner:s3cret@127.0.0.1:${pg.port}/task`);
      expect(await pg.psql("select current_database() || ' ' || current_user")).toBe("task owner");
      expect(pg.getLabels()[TEST_LABEL_KEY]).toBe("true");
      // The global setup's run id reached this worker, so the leftover check can find this container.
      expect(pg.getLabels()[TEST_RUN_LABEL_KEY]).toBe(process.env[TEST_RUN_ENV]);
      // Same image as a client: pg_dump 17 over TCP via the published port.
      const dump = await execa(
        "docker",
        [
          "run",
          "--rm",
          "--network",
          "host",
          "-e",
          "PGPASSWORD",
          postgresImage(),
          "pg_dump",
          "--schema-only",
          "-h",
          pg.host,
          "-p",
          String(pg.port),
          "-U",
          pg.user,
          pg.database,
        ],
        { env: { PGPASSWORD: pg.password } },
      );
      expect(dump.stdout).toContain("PostgreSQL database dump");
    } finally {
      await pg.stop();
    }
  });

  it("answers RabbitMQ management GET /api/definitions with JSON", async () => {
    const mq = await new RabbitMQContainer().start();
    try {
      const response = await fetch(`${mq.managementUrl}/api/definitions`, {
        headers: { authorization: mq.authorization },
      });
      expect(response.status).toBe(200);
      expect(response.headers.get("content-type")).toContain("application/json");
      const definitions = (await response.json()) as {
        rabbitmq_version?: string;
        users?: Array<{ name: string }>;
      };
      expect(definitions.rabbitmq_version).toMatch(/^4\./);
      expect(definitions.users?.map((user) => user.name)).toContain(mq.user);
      expect(mq.amqpUrl).toMatch(/^amqp:\/\/backdrill:backdrill-test@127\.0\.0\.1:\d+$/);
    } finally {
      await mq.stop();
    }
  });

  it("keeps two versions of one S3 key in a versioned bucket", async () => {
    const s3 = await new S3Container().start();
    const client = s3.client();
    try {
      const Bucket = "smoke-versions";
      await client.send(new CreateBucketCommand({ Bucket }));
      await client.send(
        new PutBucketVersioningCommand({ Bucket, VersioningConfiguration: { Status: "Enabled" } }),
      );
      const first = await client.send(new PutObjectCommand({ Bucket, Key: "a.txt", Body: "one" }));
      const second = await client.send(new PutObjectCommand({ Bucket, Key: "a.txt", Body: "two" }));
      const listed = await client.send(new ListObjectVersionsCommand({ Bucket, Prefix: "a.txt" }));
      const ids = (listed.Versions ?? []).map((version) => version.VersionId);
      expect(ids).toHaveLength(2);
      expect(ids).toEqual(expect.arrayContaining([first.VersionId, second.VersionId]));
    } finally {
      client.destroy();
      await s3.stop();
    }
  });

  it("accepts rsync over ssh with the generated key", async () => {
    const host = await new SshdRsyncContainer().start();
    const dir = await mkdtemp(path.join(tmpdir(), "backdrill-smoke-"));
    try {
      const files: Record<string, string> = { "a.txt": "alpha\n", "sub/b.bin": "beta \u00e9\n" };
      for (const [name, content] of Object.entries(files)) {
        await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
        await writeFile(path.join(dir, name), content);
      }
      // The brief's literal form (no host key check), then a strict check through known_hosts.
      const loose = `ssh -i ${host.privateKeyPath} -p ${host.port} -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null`;
      await execa("rsync", ["-a", "-e", loose, `${dir}/`, host.remote("data/")]);
      const sums = await execa("ssh", [
        ...host.sshArgs(),
        `${host.user}@${host.host}`,
        "cd data && sha256sum a.txt sub/b.bin",
      ]);
      const expected = Object.entries(files)
        .map(([name, content]) => `${createHash("sha256").update(content).digest("hex")}  ${name}`)
        .join("\n");
      expect(sums.stdout.trim()).toBe(expected);
    } finally {
      await rm(dir, { recursive: true, force: true });
      await host.stop();
    }
  });
});
