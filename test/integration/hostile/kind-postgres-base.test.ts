/**
 * Hostile postgres-base snapshots, restored with `backdrill restore --to DIR`: a base backup whose
 * tar puts symlinks where the restore writes (postgresql.auto.conf, recovery.signal) pointing at
 * files outside the target, facts replayed from another backup, and a compressed base backup
 * that inflates far past its recorded size. Refused; the files outside keep their content, nothing
 * is laid out (or, for the bomb, no more than the recorded size). The restore never contacts the job's server, so
 * no database is needed here.
 */
import { execFile } from "node:child_process";
import { mkdir, readFile, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PG_PASSWORD_ENV } from "../../faults/support/fault-config.js";
import { postgresImage } from "../../support/images.js";
import { entries, hostileWorld, SLOW, type HostileWorld } from "./kind-support.js";

const exec = promisify(execFile);
const JOB = "pgb";
let world: HostileWorld;

const META = {
  startLsn: "0/2000028",
  stopLsn: "0/2000138",
  timeline: 1,
  stopTimeline: 1,
  startWalFile: "000000010000000000000002",
  stopWalFile: "000000010000000000000002",
  walSegmentSize: 16 * 1024 * 1024,
  startTime: "2026-11-28T02:15:00.000Z",
  stopTime: "2026-11-28T02:15:01.000Z",
  toolVersion: "17.12",
  serverVersion: "17.12",
  durationMs: 1000,
};

function facts(over: Record<string, unknown> = {}): unknown {
  return {
    kind: "postgres-base",
    superuser: "postgres",
    databases: ["postgres"],
    walSegmentSize: META.walSegmentSize,
    startLsn: META.startLsn,
    stopLsn: META.stopLsn,
    timeline: 1,
    ...over,
  };
}

/** A tar of `dir`'s contents, as GNU tar writes it (links stored as links). */
async function tarOf(dir: string): Promise<Buffer> {
  const { stdout } = await exec("tar", ["-C", dir, "-cf", "-", "."], {
    encoding: "buffer",
    maxBuffer: 128 * 1024 * 1024,
  });
  return stdout;
}

async function dataDir(name: string, links: Record<string, string> = {}): Promise<string> {
  const dir = path.join(world.config.root, "sources", name);
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, "PG_VERSION"), "17\n");
  await writeFile(path.join(dir, "backup_label"), "START WAL LOCATION: 0/2000028\n");
  for (const [link, to] of Object.entries(links)) await symlink(to, path.join(dir, link));
  return dir;
}

beforeAll(async () => {
  world = await hostileWorld("hostile-pg-base");
  await world.writeJob({
    name: JOB,
    kind: "postgres-base",
    connection: {
      host: "127.0.0.1",
      port: 1,
      user: "replicator",
      passwordEnv: PG_PASSWORD_ENV,
      sslmode: "disable",
    },
    tools: { image: postgresImage() },
  });
}, SLOW);

afterAll(async () => {
  await world?.remove();
}, SLOW);

describe("hostile postgres-base snapshots", () => {
  it(
    "restore: a symlinked postgresql.auto.conf pointing outside the target is refused; the file outside is not appended to",
    async () => {
      const victim = path.join(world.outside, "victim.conf");
      await writeFile(victim, "original content\n");
      const source = await dataDir("auto-conf", { "postgresql.auto.conf": victim });
      const forged = await world.forge(JOB, "postgres-base", {
        artifacts: { "base.tar": await tarOf(source) },
        facts: facts(),
        meta: META,
      });
      const to = path.join(world.config.root, "restore-auto-conf");
      const result = await world.restore(JOB, forged.id, to);
      expect(await readFile(victim, "utf8")).toBe("original content\n");
      expect(result.code, result.stderr).toBe(1);
      expect(result.stderr).toMatch(
        /member "\.\/postgresql\.auto\.conf" is a symbolic link to ".*victim\.conf", which is absolute/,
      );
    },
    SLOW,
  );

  it(
    "restore: a symlinked recovery.signal pointing outside through '..' is refused; the file outside is not truncated",
    async () => {
      const victim = path.join(world.outside, "victim.signal");
      await writeFile(victim, "must survive\n");
      const to = path.join(world.config.root, "restore-signal");
      const relative = path.relative(to, victim);
      const source = await dataDir("signal", { "recovery.signal": relative });
      const forged = await world.forge(JOB, "postgres-base", {
        artifacts: { "base.tar": await tarOf(source) },
        facts: facts(),
        meta: META,
      });
      const result = await world.restore(JOB, forged.id, to);
      expect(await readFile(victim, "utf8")).toBe("must survive\n");
      expect(result.code, result.stderr).toBe(1);
      expect(result.stderr).toMatch(
        /member "\.\/recovery\.signal" is a symbolic link to .*, which contains '\.\.'/,
      );
    },
    SLOW,
  );

  it(
    "restore: a compressed base backup that inflates past its recorded size (a bomb) stops there; the disk is not filled",
    async () => {
      const source = await dataDir("bomb");
      // 64 MiB of zeros compress to a few KiB; the forged manifest says the tar is 1 MiB.
      await writeFile(path.join(source, "base.filler"), Buffer.alloc(64 * 1024 * 1024));
      const bound = 1024 * 1024;
      const forged = await world.forge(JOB, "postgres-base", {
        artifacts: { "base.tar": await tarOf(source) },
        compression: "brotli-1",
        facts: facts(),
        meta: META,
        edit: (manifest) => {
          const base = manifest.artifacts.find((artifact) => artifact.name === "base.tar");
          if (base !== undefined) base.plainSize = bound;
        },
      });
      expect(forged.artifacts.find((artifact) => artifact.name === "base.tar")?.size).toBeLessThan(bound);
      const to = path.join(world.config.root, "restore-bomb");
      const result = await world.restore(JOB, forged.id, to);
      expect(result.code, result.stderr).toBe(1);
      expect(result.stderr).toMatch(
        /artifact base\.tar: it decompresses to more than the 1048576 bytes its record states/,
      );
      const written = await exec("du", ["-sb", to]).then(
        ({ stdout }) => Number(stdout.split("\t")[0]),
        () => 0,
      );
      expect(written).toBeLessThanOrEqual(bound + 64 * 1024);
    },
    SLOW,
  );

  it(
    "restore: facts replayed from another backup (other LSNs than the manifest's) are refused; nothing is laid out",
    async () => {
      const source = await dataDir("replayed");
      const forged = await world.forge(JOB, "postgres-base", {
        artifacts: { "base.tar": await tarOf(source) },
        facts: facts({ startLsn: "0/1000028", stopLsn: "0/1000100" }),
        meta: META,
      });
      const to = path.join(world.config.root, "restore-replayed");
      const result = await world.restore(JOB, forged.id, to);
      expect(await entries(to)).toEqual([]);
      expect(result.code, result.stderr).toBe(1);
      expect(result.stderr).toMatch(
        /its facts describe the backup 0\/1000028–0\/1000100 on timeline 1, its manifest 0\/2000028–0\/2000138/,
      );
    },
    SLOW,
  );
});
