import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openConfig } from "./config.js";
import { clearRegisteredSecrets, registerSecret } from "../log/redact.js";
import {
  createHistoryFixture,
  DRILL,
  RTO_SECONDS,
  type HistoryFixture,
} from "../../test/support/history-fixture.js";
import { loadHistory } from "./history.js";

let fixture: HistoryFixture;
const SECRET = "hunter2-registered-after-the-drill";

beforeAll(async () => {
  fixture = await createHistoryFixture({ snapshots: [12, 5], drills: 9 });
  // A report written before its secret was known to this process (another host, an older
  // backdrill): the loader must mask it on the way in. Its stamp sorts after the fixture's.
  await writeFile(
    join(fixture.reportDir, `${DRILL}-29990101T000000Z.json`),
    JSON.stringify({
      drill: DRILL,
      startedAt: "2999-01-01T00:00:00.000Z",
      finishedAt: "2999-01-01T00:10:00.000Z",
      ok: false,
      host: "elsewhere",
      backdrillVersion: "0.0.1",
      targets: [
        {
          job: "mq",
          kind: "rabbitmq",
          snapshot: null,
          ok: false,
          error: `connect failed: password=${SECRET}`,
          backupAgeSeconds: null,
          rtoSeconds: null,
          timings: { fetchMs: 0, setupMs: 0, restoreMs: 0, checksMs: 0, totalMs: 0 },
          checks: [{ name: "definitions", ok: false, detail: `token ${SECRET} rejected` }],
        },
      ],
    }),
  );
  await writeFile(join(fixture.reportDir, `${DRILL}-29990102T000000Z.json`), "{ not json");
  await writeFile(
    join(fixture.reportDir, `${DRILL}-29990103T000000Z.json`),
    JSON.stringify({ drill: DRILL }),
  );
  // Not a report of this drill by its name: ignored, not a warning.
  await writeFile(join(fixture.reportDir, "other-29990101T000000Z.json"), "{}");
  registerSecret(SECRET);
});

afterAll(async () => {
  clearRegisteredSecrets();
  await fixture?.cleanup();
});

describe("loadHistory", () => {
  it("reads every snapshot from the repository and every drill result from the reportDir", async () => {
    const config = await openConfig(fixture.configDir);
    const now = new Date();
    const history = await loadHistory(config, { now });
    expect(history.generatedAt).toBe(now.toISOString());
    expect(history.repositories).toEqual([fixture.repoDir]);
    expect(history.jobs.map((job) => job.job)).toEqual(["mq", "task-db"]);
    for (const expected of fixture.jobs) {
      const job = history.jobs.find((candidate) => candidate.job === expected.job);
      expect(job).toMatchObject({ kind: expected.kind, policy: "nightly", rpoSeconds: 26 * 3600 });
      expect(job?.snapshots).toEqual(expected.snapshots);
      const fromFixture = job?.drills.filter((result) => result.startedAt < "2999");
      expect(fromFixture?.map((result) => [result.startedAt, result.ok, result.totalMs])).toEqual(
        expected.drills.map((result) => [result.startedAt, result.ok, result.totalMs]),
      );
      expect(
        fromFixture?.every((result) => result.drill === DRILL && result.rtoSeconds === RTO_SECONDS),
      ).toBe(true);
    }
  });

  it("masks a secret in a report on the way in, and names every report it could not read", async () => {
    const history = await loadHistory(await openConfig(fixture.configDir));
    expect(JSON.stringify(history)).not.toContain(SECRET);
    const last = history.jobs.find((job) => job.job === "mq")?.drills.at(-1);
    expect(last).toMatchObject({ startedAt: "2999-01-01T00:00:00.000Z", ok: false, snapshot: null });
    expect(last?.error).toBe("connect failed: password=***");
    expect(last?.checks[0]?.detail).toBe("token *** rejected");
    expect(history.warnings).toHaveLength(2);
    expect(history.warnings[0]).toMatch(/29990102T000000Z\.json: .*JSON/);
    expect(history.warnings[1]).toMatch(/29990103T000000Z\.json: not a drill report: startedAt/);
  });

  it("with a job, holds that job only", async () => {
    const history = await loadHistory(await openConfig(fixture.configDir), { job: "task-db" });
    expect(history.jobs.map((job) => job.job)).toEqual(["task-db"]);
    expect(history.jobs[0]?.snapshots).toHaveLength(12);
  });

  it("with an unknown job, says which jobs exist", async () => {
    await expect(loadHistory(await openConfig(fixture.configDir), { job: "task" })).rejects.toThrow(
      /unknown job "task".*configured jobs: mq, task-db/,
    );
  });
});
