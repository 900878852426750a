/**
 * Every kind's facts schema refuses the values a forged snapshot would use against a command, a
 * connection, SQL, a shell or a path (the integration half is test/integration/hostile/), and the
 * parsers of the artifacts behind the facts do the same for their entries.
 */
import { describe, expect, it } from "vitest";
import { parseDestination } from "./files/job-schema.js";
import { filesFactsSchema } from "./files/facts.js";
import { parseEntryLine } from "./files/entries.js";
import { pgDumpFactsSchema } from "./postgres-dump/facts.js";
import { artifactName } from "./postgres-dump/backup.js";
import { baseBackupFactsSchema } from "./postgres-base/facts.js";
import { confValue } from "./postgres-base/recovery.js";
import { rabbitmqFactsSchema } from "./rabbitmq/facts.js";
import { s3BucketFactsSchema } from "./s3-bucket/facts.js";
import { parseObjectLine } from "./s3-bucket/objects.js";
import { symfonySecretsFactsSchema } from "./symfony-secrets/facts.js";
import { decodeBundle } from "./symfony-secrets/bundle.js";
import { renderDecryptionKeyFile } from "./symfony-secrets/php.js";

const ok = (schema: { safeParse(v: unknown): { success: boolean } }, value: unknown) =>
  expect(schema.safeParse(value).success).toBe(true);
const refused = (schema: { safeParse(v: unknown): { success: boolean } }, value: unknown) =>
  expect(schema.safeParse(value).success).toBe(false);

const database = {
  name: "task",
  encoding: "UTF8",
  owner: "task_app",
  sizeBytes: 1,
  tables: [{ schema: "app", name: "users", rows: 2 }],
  sequences: [{ schema: "app", name: "users_id_seq", lastValue: "2", increment: "1" }],
  extensions: { vector: "0.8.0" },
  artifact: "task.dump",
};
const pgDump = {
  kind: "postgres-dump",
  version: 1,
  server: { version: "17.12", versionNum: 170012 },
  pgDumpVersion: "17.12",
  pgDumpMajor: 17,
  format: "custom",
  globalsArtifact: "globals.sql",
  rolePasswords: true,
  checksumAlgorithm: "md5-row-text-sum-v1",
  checksumMaxRows: 0,
  databases: [database],
};

describe("postgres-dump facts", () => {
  it("accept a backup's facts, a database name with a space included", () => {
    ok(pgDumpFactsSchema, pgDump);
    ok(pgDumpFactsSchema, {
      ...pgDump,
      databases: [{ ...database, name: "Q3 reports", artifact: "db-0123456789abcdef.dump" }],
    });
  });

  it.each([
    ["a conninfo as database name", { name: "host=evil dbname=x" }],
    ["a URI as database name", { name: "postgresql://evil/x" }],
    ["an encoding that is SQL", { encoding: "UTF8' LC_COLLATE 'x" }],
    ["an artifact path", { artifact: "../other/task.dump" }],
    ["the globals artifact as a dump", { artifact: "globals.sql" }],
    ["a newline in a table name", { tables: [{ schema: "app", name: "a\nb", rows: 1 }] }],
    [
      "a sequence value that is not a number",
      { sequences: [{ schema: "a", name: "s", lastValue: "1; DROP", increment: "1" }] },
    ],
  ])("refuse %s", (_what, change) => {
    refused(pgDumpFactsSchema, { ...pgDump, databases: [{ ...database, ...change }] });
  });

  it("refuse two entries for one database", () => {
    refused(pgDumpFactsSchema, { ...pgDump, databases: [database, { ...database, artifact: "b.dump" }] });
  });

  it("map database names that are no artifact names to safe, distinct artifact names", () => {
    expect(artifactName("task", "custom")).toBe("task.dump");
    expect(artifactName("Q3 reports", "custom")).toMatch(/^db-[0-9a-f]{16}\.dump$/);
    expect(artifactName("Q3 reports", "directory")).toMatch(/^db-[0-9a-f]{16}\.tar$/);
    expect(artifactName("Q3 reports", "custom")).not.toBe(artifactName("Q4 reports", "custom"));
    expect(artifactName("db-x", "custom")).toMatch(/^db-[0-9a-f]{16}\.dump$/);
  });
});

describe("postgres-base facts", () => {
  const base = {
    kind: "postgres-base",
    superuser: "postgres",
    databases: ["postgres"],
    walSegmentSize: 16777216,
    startLsn: "0/2000028",
    stopLsn: "0/2000138",
    timeline: 1,
  };
  it("accept a backup's facts and refuse a role that is an option, LSNs that are not, odd segment sizes", () => {
    ok(baseBackupFactsSchema, base);
    refused(baseBackupFactsSchema, { ...base, superuser: "-cfoo" });
    refused(baseBackupFactsSchema, { ...base, stopLsn: "0/1'; x" });
    refused(baseBackupFactsSchema, { ...base, walSegmentSize: 1000 });
  });

  it("quote recovery settings for postgresql.conf, refusing line breaks", () => {
    expect(confValue("cp /a/%f %p")).toBe("'cp /a/%f %p'");
    expect(confValue("it's \\x")).toBe("'it''s \\\\x'");
    expect(() => confValue("a\nrestore_command = 'evil'")).toThrow(/line break/);
  });
});

describe("files facts and entries", () => {
  const facts = {
    format: 1,
    destination: "/srv/backup",
    snapshotDir: "20261128T021500Z-3f9a1c",
    linkDest: null,
    files: 1,
    dirs: 0,
    symlinks: 0,
    other: 0,
    bytes: 1,
    hashedFiles: 1,
    hashedBytes: 1,
    exclude: [],
  };
  it("accept a backup's facts and refuse option-looking logins, '..' and odd snapshot dirs", () => {
    ok(filesFactsSchema, facts);
    ok(filesFactsSchema, { ...facts, destination: "backup@nas.example:/srv/backup" });
    refused(filesFactsSchema, { ...facts, destination: "-oProxyCommand=x@h:/p" });
    refused(filesFactsSchema, { ...facts, destination: "u@-oProxyCommand=x:/p" });
    refused(filesFactsSchema, { ...facts, destination: "/srv/../etc" });
    refused(filesFactsSchema, { ...facts, snapshotDir: "../../etc" });
    refused(filesFactsSchema, { ...facts, manifestArtifact: "../x" });
  });

  it("parse destinations strictly", () => {
    expect(parseDestination("backup@[fd00::1]:/srv")).toMatchObject({ type: "remote", host: "[fd00::1]" });
    expect(parseDestination("-x@h:/p")).toBeUndefined();
    expect(parseDestination("h:/a/../b")).toBeUndefined();
  });

  it("refuse manifest entries whose path leaves the tree", () => {
    const line = (path: string) =>
      JSON.stringify({ path, type: "file", size: 0, mtime: "x", mode: "0644", uid: 0, gid: 0 });
    expect(parseEntryLine(line("a/b.txt"), 1).path).toBe("a/b.txt");
    expect(() => parseEntryLine(line("../../etc/shadow"), 7)).toThrow(/line 7 is not a file entry \(path:/);
    expect(() => parseEntryLine(line("/etc/shadow"), 1)).toThrow(/not a file entry/);
  });
});

describe("s3-bucket facts and entries", () => {
  const facts = {
    format: 1,
    bucket: "task-files",
    prefix: "",
    objects: 1,
    bytes: 1,
    copied: true,
    setup: [],
    listedAt: "2026-11-28T02:15:00Z",
  };
  it("refuse a bucket that is not a bucket name, and entries whose copy is not an object artifact", () => {
    ok(s3BucketFactsSchema, facts);
    refused(s3BucketFactsSchema, { ...facts, bucket: "../x" });
    const entry = { key: "a", versionId: "v", etag: "e", size: 1, lastModified: "x" };
    expect(parseObjectLine(JSON.stringify({ ...entry, artifact: "obj-0000001" }), 1).artifact).toBe(
      "obj-0000001",
    );
    expect(() => parseObjectLine(JSON.stringify({ ...entry, artifact: "facts.json" }), 2)).toThrow(
      /not an object artifact/,
    );
    expect(() => parseObjectLine(JSON.stringify({ ...entry, sha256: "x" }), 3)).toThrow(
      /not an object entry/,
    );
  });
});

describe("rabbitmq facts", () => {
  it("refuse control characters in names and artifacts that are paths", () => {
    const facts = {
      kind: "rabbitmq",
      version: 1,
      server: { version: "4.0.5", product: null, managementVersion: null, clusterName: null },
      artifact: "definitions.json",
      counts: { users: 0, vhosts: 0, globalParameters: 0, perVhost: {} },
      classicMirroring: [],
    };
    ok(rabbitmqFactsSchema, facts);
    refused(rabbitmqFactsSchema, { ...facts, artifact: "../definitions.json" });
    refused(rabbitmqFactsSchema, { ...facts, server: { ...facts.server, version: "4\n## passed" } });
  });
});

describe("symfony-secrets facts, bundle and PHP", () => {
  const recipient = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p";
  const facts = {
    kind: "symfony-secrets",
    version: 1,
    environment: "prod",
    artifact: "vault.escrow",
    secrets: ["A"],
    count: 1,
    publicKeyFingerprint: `sha256:${"a".repeat(64)}`,
    keySource: "env",
    files: ["prod.list.php"],
    unlisted: [],
    escrowRecipients: [recipient],
  };
  it("refuse environments and file names that leave the directory or break PHP", () => {
    ok(symfonySecretsFactsSchema, facts);
    refused(symfonySecretsFactsSchema, { ...facts, environment: "../x" });
    refused(symfonySecretsFactsSchema, { ...facts, environment: "prod\nsystem('id');#" });
    refused(symfonySecretsFactsSchema, { ...facts, files: ["../../etc/cron.d/x"] });
    refused(symfonySecretsFactsSchema, { ...facts, secrets: ["A B"] });
  });

  it("decodeBundle refuses an environment or file name Symfony would not write", () => {
    const bundle = (environment: string, name = "prod.list.php") =>
      Buffer.from(
        JSON.stringify({
          format: "backdrill-symfony-vault",
          version: 1,
          environment,
          keySource: "env",
          files: [{ name, mode: 384, data: "" }],
          key: Buffer.alloc(64).toString("base64"),
        }),
      );
    expect(decodeBundle(bundle("prod")).environment).toBe("prod");
    expect(() => decodeBundle(bundle("../x"))).toThrow(/not a Symfony environment name/);
    expect(() => decodeBundle(bundle("prod", "a/b"))).toThrow(/unsafe file/);
    expect(() => renderDecryptionKeyFile("prod\n?><?php system('id');", new Uint8Array(64))).toThrow(
      /no PHP is written/,
    );
  });
});
