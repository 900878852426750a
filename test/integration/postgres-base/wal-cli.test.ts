/**
 * `backdrill wal push | fetch | ship` through the CLI (in-process), against a local repository and
 * against an S3 repository on the S3 test server: the exit statuses PostgreSQL's archive_command
 * and restore_command contracts need, whichever backend holds the archive.
 */
import { CreateBucketCommand, ListObjectsV2Command } from "@aws-sdk/client-s3";
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateIdentity } from "../../../src/crypto/keys.js";
import { S3Container, type StartedS3Container } from "../../support/containers/s3.js";
import { runCli } from "../../support/run-cli.js";

const SEGMENT = "000000010000000000000007";
const BUCKET = "wal-cli-repository";

/** Where the suite's archive lives: the policy's repository block, its env, and a listing. */
interface ArchiveBackend {
  name: string;
  start(dir: string): Promise<{ repositoryYaml: string; env: Record<string, string> }>;
  /** Names under wal/task-wal/, sorted. */
  list(dir: string): Promise<string[]>;
  stop(): Promise<void>;
}

const localArchive: ArchiveBackend = {
  name: "a local repository",
  start: (dir) => Promise.resolve({ repositoryYaml: `{ type: local, path: ${dir}/repo }`, env: {} }),
  list: async (dir) => (await readdir(path.join(dir, "repo/wal/task-wal"))).sort(),
  stop: () => Promise.resolve(),
};

function s3Archive(): ArchiveBackend {
  let s3: StartedS3Container | undefined;
  return {
    name: "an S3 repository",
    async start() {
      s3 = await new S3Container().start();
      const client = s3.client();
      await client.send(new CreateBucketCommand({ Bucket: BUCKET }));
      client.destroy();
      return {
        repositoryYaml:
          `{ type: s3, bucket: ${BUCKET}, prefix: archive, endpoint: "${s3.endpoint}", region: ${s3.region}, ` +
          "forcePathStyle: true, accessKeyIdEnv: WAL_S3_KEY, secretAccessKeyEnv: WAL_S3_SECRET }",
        env: { WAL_S3_KEY: s3.accessKeyId, WAL_S3_SECRET: s3.secretAccessKey },
      };
    },
    async list() {
      const client = s3!.client();
      const listed = await client.send(
        new ListObjectsV2Command({ Bucket: BUCKET, Prefix: "archive/wal/task-wal/" }),
      );
      client.destroy();
      return (listed.Contents ?? []).map((object) => path.posix.basename(object.Key ?? "")).sort();
    },
    async stop() {
      await s3?.stop();
    },
  };
}

for (const backend of [localArchive, s3Archive()]) {
  describe(`backdrill wal, with ${backend.name}`, () => {
    let dir: string;
    let identityFile: string;
    let env: Record<string, string> = {};

    async function file(name: string, content: string | Buffer): Promise<string> {
      const target = path.join(dir, "pg_wal", name);
      await writeFile(target, content);
      return target;
    }

    beforeAll(async () => {
      dir = await mkdtemp(path.join(os.tmpdir(), "wal-cli-"));
      await mkdir(path.join(dir, "policies"));
      await mkdir(path.join(dir, "jobs"));
      await mkdir(path.join(dir, "pg_wal"));
      const key = await generateIdentity();
      identityFile = path.join(dir, "identity.txt");
      await writeFile(identityFile, `${key.identity}\n`, { mode: 0o600 });
      const started = await backend.start(dir);
      env = started.env;
      await writeFile(
        path.join(dir, "policies/test.yaml"),
        `name: test\nrepository: ${started.repositoryYaml}\nencryption: { recipients: [${key.recipient}] }\nretention: { keepLast: 2 }\nrpo: 26h\n`,
      );
      await writeFile(
        path.join(dir, "jobs/task-wal.yaml"),
        "name: task-wal\nkind: postgres-base\npolicy: test\nconnection: { host: 127.0.0.1, user: replicator, passwordEnv: NOT_USED }\ntools: { binDir: /usr/lib/postgresql/17/bin }\n",
      );
    }, 120_000);

    afterAll(async () => {
      await backend.stop();
      if (dir !== undefined) await rm(dir, { recursive: true, force: true });
    });

    const cli = (...args: string[]) => runCli(["--config-dir", dir, "wal", ...args], env);

    it("push: 0 when stored, 0 again for the same content, non-zero for different content", async () => {
      const segment = await file(SEGMENT, Buffer.alloc(1024 * 1024, 3));
      const first = await cli("push", "task-wal", segment);
      expect(first).toMatchObject({ code: 0 });
      expect((await cli("push", "task-wal", segment)).code).toBe(0);
      await writeFile(segment, Buffer.alloc(1024 * 1024, 4));
      const differing = await cli("push", "task-wal", segment);
      expect(differing.code).toBe(1);
      expect(differing.stderr).toMatch(/different content; refusing to overwrite/);
      expect(await backend.list(dir)).toEqual([`${SEGMENT}.age`, `${SEGMENT}.sha256`]);
    });

    it("push handles .history and .backup files and refuses other names (exit 2)", async () => {
      expect(
        (await cli("push", "task-wal", await file("00000002.history", "1\t0/7000000\tno recovery target\n")))
          .code,
      ).toBe(0);
      expect(
        (await cli("push", "task-wal", await file(`${SEGMENT}.00000028.backup`, "START WAL LOCATION"))).code,
      ).toBe(0);
      const bad = await cli("push", "task-wal", await file("postmaster.pid", "1"));
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(/not a WAL file name/);
    });

    it("fetch: 0 and the original bytes; 1 for a file not in the archive; 126 without the identity", async () => {
      const dest = path.join(dir, "pg_wal", "RECOVERYXLOG");
      const fetched = await cli("fetch", "task-wal", SEGMENT, dest, "--identity", identityFile);
      expect(fetched.code).toBe(0);
      expect((await readFile(dest)).equals(Buffer.alloc(1024 * 1024, 3))).toBe(true);
      expect(
        (await cli("fetch", "task-wal", "00000003.history", dest, "--identity", identityFile)).code,
      ).toBe(1);
      const noIdentity = await runCli(["--config-dir", dir, "wal", "fetch", "task-wal", SEGMENT, dest], {
        ...env,
        BACKDRILL_IDENTITY_FILE: undefined,
      });
      expect(noIdentity.code).toBe(126);
      expect(noIdentity.stderr).toMatch(/needs the age identity/);
    });

    it("refuses a job of another kind and wrong argument counts (exit 2)", async () => {
      expect((await cli("push", "task-wal")).code).toBe(2);
      expect((await cli("push", "nope", "x")).stderr).toMatch(/unknown job/);
    });

    it("ship --once drains a spool directory", async () => {
      const spool = path.join(dir, "spool");
      await mkdir(spool);
      await writeFile(path.join(spool, "000000010000000000000008"), "eight");
      await writeFile(path.join(spool, ".000000010000000000000009.tmp"), "in flight");
      const shipped = await cli("ship", "task-wal", spool, "--once");
      expect(shipped.code).toBe(0);
      expect(await readdir(spool)).toEqual([".000000010000000000000009.tmp"]);
    });
  });
}
