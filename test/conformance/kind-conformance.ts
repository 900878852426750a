/**
 * The job-kind conformance suite: what every kind must do, run against its real service, the way
 * `test/support/backend-conformance.ts` holds every storage backend to one contract. A kind gets
 * it with one line (`describeKindConformance(harness)`); the harness starts the service, seeds
 * it, and says how to look at a restore target (docs/architecture.md, "Adding a job kind").
 *
 * Through the CLI, on a config directory whose repository is on the S3 test server (moto, with
 * versioning), so every kind's backup, drill and restore also runs end to end from S3:
 *   - doctor passes for the job and the drill (and the S3 server honours conditional writes), and
 *     fails naming the check when the job's secret is wrong;
 *   - backup → verify (also decrypting every artifact) → drill → restore into an empty target,
 *     and the restored data is the source's;
 *   - the drill report's timings are the runner's phases (fetch, setup, restore, checks);
 *   - `restore --dry-run` prints the plan and changes nothing, in the target or the repository;
 *   - a non-empty target is refused without --force (exit 2) and restored over with it;
 *   - a snapshot whose facts fail the kind's schema is refused by restore and drill, naming it;
 *   - a backup SIGKILLed mid-run leaves no snapshot that looks complete (kill trials, on a local
 *     repository, whose files they watch).
 */
import { chmod, mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { Readable } from "node:stream";
import YAML from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CreateBucketCommand } from "@aws-sdk/client-s3";
import { FACTS_ARTIFACT } from "../../src/repository/manifest.js";
import { Repository } from "../../src/repository/repository.js";
import { S3Backend } from "../../src/storage/s3/s3-backend.js";
import type { DrillReport } from "../../src/report/types.js";
import { makeFaultConfig, type FaultConfig } from "../faults/support/fault-config.js";
import { runKillTrials } from "../faults/support/kill-trials.js";
import { S3Container, type StartedS3Container } from "../support/containers/s3.js";
import { runCli, type CliResult } from "../support/run-cli.js";

process.env.TESTCONTAINERS_RYUK_DISABLED = "true";

/** Where a restore goes, and how the test looks at it. */
export interface RestoreTarget {
  /** `--to` */
  to: string;
  /** The kind's own restore flags (`--ssh-key F`, ...). */
  args?: string[];
  /** More environment for the restore (target credentials). */
  env?: Record<string, string>;
  /** A fingerprint of what the target holds: `--dry-run` must not change it. */
  state(): Promise<string>;
  /** Puts something into the target, so that a restore must refuse it without --force. */
  occupy(): Promise<void>;
  /** Asserts the target holds the source's data (throws with what differs). */
  verify(): Promise<void>;
}

export interface HarnessWorld {
  /** The kind's own job fields (name, kind and policy are added). */
  job: Record<string, unknown>;
  /** The job fields of the kill trials' job, when it must differ (its own destination). */
  killJob?: Record<string, unknown>;
  /** The secrets the job's `…Env` fields name. */
  env: Record<string, string>;
  /** A wrong value for one of them, and the doctor check that must then fail. */
  wrongSecret?: { env: Record<string, string>; check: string };
  /** The drill target's fields besides `job` (image, checks, ...). */
  target: Record<string, unknown>;
  /** Called after each successful backup (a WAL switch and ship, for instance). */
  afterBackup?(run: (args: string[]) => Promise<CliResult>): Promise<void>;
  /** A fresh, empty restore target each call. */
  restoreTarget(): Promise<RestoreTarget>;
  /** More directories a killed backup's children could write to (for the kill trials). */
  watchDirs?: string[];
  stop(): Promise<void>;
}

export interface KindHarness {
  kind: string;
  /** Starts the real service(s) and seeds them; `work` is a private temp dir for files. */
  start(work: string): Promise<HarnessWorld>;
}

const JOB = "conformance";
/** The policy of the main job: its repository is on the S3 test server. */
const S3_POLICY = "s3-repository";
const REPOSITORY_BUCKET = "conformance-repository";
/** The same job under another name: the kill trials start from a job without snapshots. */
const KILL_JOB = "conformance-kill";
const DRILL = "conformance";
const SLOW = 600_000;

export function describeKindConformance(harness: KindHarness): void {
  describe(`kind conformance: ${harness.kind}`, () => {
    let config: FaultConfig;
    let world: HarnessWorld;
    let s3: StartedS3Container;
    let identityFile: string;
    let reportDir: string;

    const repositoryEnv = (): Record<string, string> => ({
      REPOSITORY_ACCESS_KEY: s3.accessKeyId,
      REPOSITORY_SECRET_KEY: s3.secretAccessKey,
    });
    const cli = (args: string[], env: Record<string, string> = {}): Promise<CliResult> =>
      runCli([...args, "--config-dir", config.configDir], { ...repositoryEnv(), ...world.env, ...env });
    const repository = (): Repository =>
      new Repository(
        new S3Backend({
          endpoint: s3.endpoint,
          region: s3.region,
          forcePathStyle: true,
          credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
          bucket: REPOSITORY_BUCKET,
          prefix: harness.kind,
        }),
      );
    const snapshotIds = async (): Promise<string[]> => {
      const repo = repository();
      try {
        return (await repo.listSnapshots(JOB)).snapshots.map((snapshot) => snapshot.id);
      } finally {
        await repo.backend.close();
      }
    };
    const backup = async (): Promise<void> => {
      const result = await cli(["backup", JOB]);
      expect(result.code, `backup:\n${result.stdout}\n${result.stderr}`).toBe(0);
      await world.afterBackup?.((args) => cli(args));
    };
    const restore = (target: RestoreTarget, extra: string[]): Promise<CliResult> =>
      cli(
        ["restore", JOB, "--to", target.to, ...(target.args ?? []), "--identity", identityFile, ...extra],
        target.env,
      );
    const latestReport = async (): Promise<DrillReport> => {
      const names = (await readdir(reportDir)).filter((name) => name.endsWith(".json")).sort();
      const newest = names.at(-1);
      if (newest === undefined) throw new Error(`no drill report in ${reportDir}`);
      return JSON.parse(await readFile(path.join(reportDir, newest), "utf8")) as DrillReport;
    };

    beforeAll(async () => {
      config = await makeFaultConfig(`conformance-${harness.kind}`);
      s3 = await new S3Container().start();
      const client = s3.client();
      await client.send(new CreateBucketCommand({ Bucket: REPOSITORY_BUCKET }));
      client.destroy();
      const policy = {
        name: S3_POLICY,
        repository: {
          type: "s3",
          bucket: REPOSITORY_BUCKET,
          prefix: harness.kind,
          endpoint: s3.endpoint,
          region: s3.region,
          forcePathStyle: true,
          accessKeyIdEnv: "REPOSITORY_ACCESS_KEY",
          secretAccessKeyEnv: "REPOSITORY_SECRET_KEY",
        },
        encryption: { recipients: [config.recipient] },
        retention: { keepLast: 100 },
        rpo: "26h",
      };
      await writeFile(path.join(config.configDir, "policies", `${S3_POLICY}.yaml`), YAML.stringify(policy), {
        mode: 0o600,
      });
      world = await harness.start(config.root);
      await writeFile(
        path.join(config.configDir, "jobs", `${JOB}.yaml`),
        YAML.stringify({ name: JOB, kind: harness.kind, policy: S3_POLICY, ...world.job }),
        { mode: 0o600 },
      );
      await config.writeJob({ name: KILL_JOB, kind: harness.kind, ...(world.killJob ?? world.job) });
      identityFile = path.join(config.root, "identity.txt");
      await writeFile(identityFile, `${config.identity}\n`, { mode: 0o600 });
      await chmod(identityFile, 0o600);
      reportDir = path.join(config.root, "reports");
      const drill = {
        name: DRILL,
        identityFile,
        reportDir,
        targets: [{ job: JOB, ...world.target }],
      };
      const drillsDir = path.join(config.configDir, "drills");
      await mkdir(drillsDir, { recursive: true, mode: 0o700 });
      await writeFile(path.join(drillsDir, `${DRILL}.yaml`), YAML.stringify(drill), { mode: 0o600 });
    }, SLOW);

    afterAll(async () => {
      await world?.stop();
      await s3?.stop();
      await config?.remove();
    }, SLOW);

    it(
      "doctor passes for the job and its drill, and names the check when the job's secret is wrong",
      async () => {
        const result = await cli(["doctor", JOB]);
        const failed = result.stdout.split("\n").filter((line) => line.startsWith("FAIL"));
        expect(failed, result.stdout + result.stderr).toEqual([]);
        expect(result.code).toBe(0);
        expect(result.stdout).toMatch(/conditional writes +.*refuses a second create/);
        expect(result.stdout).toMatch(new RegExp(`job ${JOB}:`));
        expect(result.stdout).toMatch(new RegExp(`drill ${DRILL}:`));
        if (world.wrongSecret !== undefined) {
          const broken = await cli(["doctor", JOB, "--scope", "backup"], world.wrongSecret.env);
          expect(broken.code, broken.stdout).toBe(1);
          const line = broken.stdout.split("\n").find((entry) => entry.startsWith("FAIL"));
          expect(line, broken.stdout).toContain(`job ${JOB}: ${world.wrongSecret.check}`);
        }
      },
      SLOW,
    );

    it(
      "backs up, and verify passes, also decrypting every artifact",
      async () => {
        await backup();
        expect(await snapshotIds()).toHaveLength(1);
        const verified = await cli(["verify", JOB, "--read-data", "--identity", identityFile]);
        expect(verified.code, `${verified.stdout}\n${verified.stderr}`).toBe(0);
      },
      SLOW,
    );

    it(
      "drills: every check passes, and the timings are the runner's phases",
      async () => {
        const result = await cli(["drill", DRILL]);
        const report = await latestReport();
        const target = report.targets[0];
        expect(target, result.stderr).toBeDefined();
        if (target === undefined) return;
        expect(
          target.checks.filter((check) => !check.ok),
          `${target.error ?? ""}\n${result.stderr}`,
        ).toEqual([]);
        expect(target.error).toBeUndefined();
        expect(result.code).toBe(0);
        const { fetchMs, setupMs, restoreMs, checksMs, totalMs } = target.timings;
        for (const value of [fetchMs, setupMs, restoreMs, checksMs]) expect(value).toBeGreaterThanOrEqual(0);
        expect(fetchMs + setupMs + restoreMs + checksMs).toBeLessThanOrEqual(totalMs);
        // Reading the snapshot back into the sandbox takes time for every kind.
        expect(restoreMs).toBeGreaterThan(0);
        // The phases are the runner's: no kind reports its own sandbox time beside them.
        expect(Object.keys(target.details ?? {})).not.toContain("sandboxStartMs");
      },
      SLOW,
    );

    it(
      "restore --dry-run prints the plan and changes nothing",
      async () => {
        const target = await world.restoreTarget();
        const before = await target.state();
        const repoBefore = await snapshotIds();
        const result = await restore(target, ["--dry-run"]);
        expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0);
        expect(result.stdout).toMatch(/plan \(dry run, nothing touched\)/);
        expect(result.stdout).toMatch(/ {2}1\. /);
        expect(await target.state()).toBe(before);
        expect(await snapshotIds()).toEqual(repoBefore);
      },
      SLOW,
    );

    it(
      "restores into an empty target, and the data is the source's",
      async () => {
        const target = await world.restoreTarget();
        const result = await restore(target, []);
        expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0);
        await target.verify();
      },
      SLOW,
    );

    it(
      "refuses a non-empty target without --force (exit 2), and restores over it with --force",
      async () => {
        const target = await world.restoreTarget();
        await target.occupy();
        const occupied = await target.state();
        const refused = await restore(target, []);
        expect(refused.code, `${refused.stdout}\n${refused.stderr}`).toBe(2);
        expect(refused.stderr).toMatch(/not empty|already (holds|exist)|refusing/);
        expect(await target.state()).toBe(occupied);
        const forced = await restore(target, ["--force"]);
        expect(forced.code, `${forced.stdout}\n${forced.stderr}`).toBe(0);
        await target.verify();
      },
      SLOW,
    );

    it(
      "refuses a snapshot whose facts fail the kind's schema, in restore and in the drill",
      async () => {
        const repo = repository();
        let forged;
        try {
          // Anyone who can write to the repository and knows the public recipient can do this.
          const writer = repo.createSnapshot({
            job: JOB,
            kind: harness.kind,
            recipients: [config.recipient],
          });
          await writer.addArtifact("payload", Readable.from([Buffer.from("not what the kind wrote")]));
          await writer.addJson(FACTS_ARTIFACT, { kind: harness.kind, format: 999, databases: "all of them" });
          forged = await writer.commit({});
          const target = await world.restoreTarget();
          const result = await restore(target, ["--snapshot", forged.id, "--dry-run"]);
          expect(result.code).toBe(1);
          expect(result.stderr).toContain(
            `snapshot ${JOB}/${forged.id}: its facts are not ${harness.kind} facts`,
          );
          const drilled = await cli(["drill", DRILL]);
          expect(drilled.code).toBe(1);
          const report = await latestReport();
          expect(report.targets[0]?.snapshot).toBe(forged.id);
          expect(report.targets[0]?.error).toContain(`its facts are not ${harness.kind} facts`);
        } finally {
          if (forged !== undefined) await repo.deleteSnapshot(forged);
          await repo.backend.close();
        }
      },
      SLOW,
    );

    it(
      "leaves no snapshot that looks complete when a backup is SIGKILLed mid-run",
      async () => {
        const report = await runKillTrials({
          kind: harness.kind,
          job: KILL_JOB,
          configDir: config.configDir,
          repositoryDir: config.repositoryDir,
          identity: config.identity,
          env: world.env,
          trials: 2,
          ...(world.watchDirs === undefined ? {} : { watchDirs: world.watchDirs }),
        });
        expect(report.trials).toHaveLength(2);
      },
      SLOW,
    );
  });
}
