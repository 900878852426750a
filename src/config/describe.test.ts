import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { describeConfig, describeJobTarget, describeRepository } from "./describe.js";
import { loadConfig } from "./load.js";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

describe("describeConfig", () => {
  it("prints the example config: policies, jobs and drills in name order", async () => {
    const config = await loadConfig({
      dir: repoRoot,
      env: { BACKUP_S3_ENDPOINT: "http://127.0.0.1:9000", TASK_DB_PASSWORD: "never-printed" },
    });
    const text = describeConfig(config, { now: new Date("2026-11-28T00:00:00Z") });
    const lines = text.split("\n");
    expect(lines[0]).toBe(`config: ${repoRoot}`);
    expect(text).toContain(
      "    repository: s3://task-backups/prod (endpoint http://127.0.0.1:9000, region us-east-1, path-style, object lock GOVERNANCE 35d)",
    );
    expect(text).toContain("    schedule:   15 2 * * * (Europe/Moscow); next 2026-11-28T23:15:00.000Z");
    expect(text).toContain("    retention:  last 3, daily 7, weekly 5, monthly 12");
    expect(text).toContain("    rpo:        26h");
    expect(text).toContain("    encryption: recipients from /etc/backdrill/recipients.txt");
    expect(text).toContain("  task-db  postgres-dump  policy nightly  [jobs/task-db.yaml]");
    expect(text).toContain(
      "    target:     backup@127.0.0.1:5432; databases task; custom format + globals; tools image pgvector/pgvector:pg17",
    );
    expect(text).toContain(
      "    target:     /mnt/task/files -> /var/backups/task-files; exclude *.tmp cache/",
    );
    expect(text).toContain(
      "      - task-db: snapshot latest, image pgvector/pgvector:pg17, rto 30m, checks rowCounts, amcheck, extensions vector, 1 sql",
    );
    expect(text).toContain(
      "      - task-wal: snapshot latest, image pgvector/pgvector:pg17, pitr latest, rto 60m",
    );
    expect(text).not.toContain("never-printed");
    const jobLines = lines.filter((line) => /^ {2}task-/.test(line)).map((line) => line.trim().split(" ")[0]);
    expect(jobLines).toEqual([...jobLines].sort());
  });

  it("is stable without `now`", async () => {
    const config = await loadConfig({ dir: repoRoot, env: {} });
    expect(describeConfig(config)).toBe(describeConfig(config));
    expect(describeConfig(config)).toContain("    schedule:   0 4 1 * * (Europe/Moscow)\n");
  });
});

describe("pieces", () => {
  it("never prints URL credentials", () => {
    const text = describeRepository({
      type: "s3",
      bucket: "b",
      prefix: "",
      endpoint: "http://user:pw@minio:9000",
      region: "r",
      forcePathStyle: false,
    });
    expect(text).toBe("s3://b (endpoint http://minio:9000, region r)");
  });

  it("describes a URL-based connection by its env var name only", () => {
    expect(
      describeJobTarget({
        name: "w",
        policy: "p",
        kind: "postgres-base",
        connection: { urlEnv: "TASK_WAL_URL" },
        tools: { binDir: "/usr/lib/postgresql/17/bin" },
        compression: "brotli-1",
      }),
    ).toBe("URL from $TASK_WAL_URL; base backup + WAL archive, brotli-1; tools /usr/lib/postgresql/17/bin");
  });

  it("describes a local repository", () => {
    expect(describeRepository({ type: "local", path: "/var/backups/task" })).toBe("local /var/backups/task");
  });
});
