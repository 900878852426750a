import { mkdtemp, readFile, rm, stat, readdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { drillSamples, jobSamples, parseTextfile, updateTextfile, type Sample } from "./metrics.js";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "backdrill-metrics-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function value(samples: Sample[], name: string, labels: Record<string, string>): number | undefined {
  return samples.find((s) => s.name === name && JSON.stringify(s.labels) === JSON.stringify(labels))?.value;
}

describe("Prometheus textfile", () => {
  it("writes per job and per drill target series that parse back, with HELP and TYPE once per family", async () => {
    const file = join(dir, "textfile", "backdrill.prom");
    const at = new Date("2026-11-28T02:20:00Z");
    await updateTextfile(
      file,
      jobSamples({ job: "task-db", ok: true, finishedAt: at, durationSeconds: 12.5, bytes: 1048576 }),
    );
    await updateTextfile(
      file,
      drillSamples({
        drill: "monthly",
        ok: false,
        finishedAt: at,
        targets: [
          {
            job: "task-db",
            ok: true,
            restoreSeconds: 40.2,
            totalSeconds: 61,
            rtoSeconds: 1800,
            backupAgeSeconds: 3600,
          },
          {
            job: "task-files",
            ok: false,
            restoreSeconds: 0,
            totalSeconds: 1,
            rtoSeconds: null,
            backupAgeSeconds: null,
          },
        ],
      }),
    );
    const text = await readFile(file, "utf8");
    const samples = parseTextfile(text);
    expect(value(samples, "backdrill_job_last_success_timestamp_seconds", { job: "task-db" })).toBe(
      at.getTime() / 1000,
    );
    expect(value(samples, "backdrill_job_last_duration_seconds", { job: "task-db" })).toBe(12.5);
    expect(value(samples, "backdrill_job_last_success_bytes", { job: "task-db" })).toBe(1048576);
    expect(
      value(samples, "backdrill_drill_target_restore_seconds", { drill: "monthly", job: "task-db" }),
    ).toBe(40.2);
    expect(value(samples, "backdrill_drill_target_rto_seconds", { drill: "monthly", job: "task-db" })).toBe(
      1800,
    );
    expect(
      value(samples, "backdrill_drill_target_last_run_success", { drill: "monthly", job: "task-files" }),
    ).toBe(0);
    expect(
      value(samples, "backdrill_drill_target_last_success_timestamp_seconds", {
        drill: "monthly",
        job: "task-files",
      }),
    ).toBeUndefined();
    expect(value(samples, "backdrill_drill_last_run_success", { drill: "monthly" })).toBe(0);
    // Exposition format: every family has exactly one HELP and one TYPE gauge line, before its samples.
    const families = new Set(samples.map((s) => s.name));
    for (const family of families) {
      expect(text.match(new RegExp(`^# HELP ${family} .+$`, "gm"))).toHaveLength(1);
      expect(text.match(new RegExp(`^# TYPE ${family} gauge$`, "gm"))).toHaveLength(1);
      expect(text.indexOf(`# TYPE ${family} gauge`)).toBeLessThan(text.indexOf(`\n${family}{`));
    }
    expect(text.endsWith("\n")).toBe(true);
    // node_exporter runs as its own user: world-readable, and no temp file left in the directory.
    expect((await stat(file)).mode & 0o777).toBe(0o644);
    expect(await readdir(join(dir, "textfile"))).toEqual(["backdrill.prom"]);
  });

  it("keeps the last success time when a later run fails", async () => {
    const file = join(dir, "backdrill.prom");
    const first = new Date("2026-11-27T02:20:00Z");
    const second = new Date("2026-11-28T02:20:00Z");
    await updateTextfile(
      file,
      jobSamples({ job: "task-db", ok: true, finishedAt: first, durationSeconds: 10, bytes: 5 }),
    );
    await updateTextfile(
      file,
      jobSamples({ job: "task-db", ok: false, finishedAt: second, durationSeconds: 2, bytes: 0 }),
    );
    const samples = parseTextfile(await readFile(file, "utf8"));
    expect(value(samples, "backdrill_job_last_success_timestamp_seconds", { job: "task-db" })).toBe(
      first.getTime() / 1000,
    );
    expect(value(samples, "backdrill_job_last_run_timestamp_seconds", { job: "task-db" })).toBe(
      second.getTime() / 1000,
    );
    expect(value(samples, "backdrill_job_last_run_success", { job: "task-db" })).toBe(0);
    expect(value(samples, "backdrill_job_last_success_bytes", { job: "task-db" })).toBe(5);
  });

  it("serialises concurrent updates in one process without losing any", async () => {
    const file = join(dir, "backdrill.prom");
    const at = new Date();
    await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        updateTextfile(
          file,
          jobSamples({ job: `job-${i}`, ok: true, finishedAt: at, durationSeconds: i, bytes: i }),
        ),
      ),
    );
    const samples = parseTextfile(await readFile(file, "utf8"));
    expect(samples.filter((s) => s.name === "backdrill_job_last_duration_seconds")).toHaveLength(10);
  });

  it("escapes label values and rejects malformed lines", () => {
    const samples = parseTextfile('m{a="x\\"y\\\\z",b="1"} 2\n');
    expect(samples).toEqual([{ name: "m", labels: { a: 'x"y\\z', b: "1" }, value: 2 }]);
    expect(() => parseTextfile("m{a=1} 2\n")).toThrow(SyntaxError);
    expect(() => parseTextfile("m two\n")).toThrow(SyntaxError);
  });
});
