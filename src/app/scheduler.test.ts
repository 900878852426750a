import { describe, expect, it } from "vitest";
import { UsageError } from "../errors.js";
import { createLogger } from "../log/logger.js";
import {
  checkOneEngine,
  Scheduler,
  type ScheduledTask,
  type TaskOutcome,
  type TaskRunner,
} from "./scheduler.js";

const log = createLogger({ level: "silent" });
const everySecond = (name: string, kind: ScheduledTask["kind"] = "backup"): ScheduledTask => ({
  kind,
  name,
  schedule: "* * * * * *",
  timezone: "Europe/Moscow",
  file: "policies/test.yaml",
});

/** A fake job runner (the scheduler's one dependency): records calls and concurrency. */
class RecordingRunner implements TaskRunner {
  calls: Array<{ name: string; at: number }> = [];
  active = new Map<string, number>();
  maxActive = new Map<string, number>();
  aborted: string[] = [];
  constructor(private readonly durationMs: (name: string) => number) {}

  async run(task: ScheduledTask, signal: AbortSignal): Promise<TaskOutcome> {
    this.calls.push({ name: task.name, at: Date.now() });
    const active = (this.active.get(task.name) ?? 0) + 1;
    this.active.set(task.name, active);
    this.maxActive.set(task.name, Math.max(active, this.maxActive.get(task.name) ?? 0));
    try {
      await new Promise<void>((resolve) => {
        // Like an engine: the current step stops when the signal aborts.
        const onAbort = () => {
          clearTimeout(timer);
          this.aborted.push(task.name);
          resolve();
        };
        const timer = setTimeout(() => {
          // A finished run no longer listens: only runs cut short count as aborted.
          signal.removeEventListener("abort", onAbort);
          resolve();
        }, this.durationMs(task.name));
        signal.addEventListener("abort", onAbort, { once: true });
      });
      return { ok: !signal.aborted };
    } finally {
      this.active.set(task.name, (this.active.get(task.name) ?? 1) - 1);
    }
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("Scheduler", () => {
  it("fires tasks from a cron expression with a seconds field", async () => {
    const runner = new RecordingRunner(() => 50);
    const controller = new AbortController();
    const scheduler = new Scheduler([everySecond("task-db"), everySecond("monthly", "drill")], runner, {
      log,
      signal: controller.signal,
    });
    const running = scheduler.run();
    await sleep(3_300);
    controller.abort();
    await running;
    const db = runner.calls.filter((call) => call.name === "task-db");
    expect(db.length).toBeGreaterThanOrEqual(3);
    expect(db.length).toBeLessThanOrEqual(4);
    expect(runner.calls.filter((call) => call.name === "monthly").length).toBe(db.length);
    // Each fires on a second boundary, about a second apart.
    const gaps = db.slice(1).map((call, index) => call.at - (db[index]?.at ?? 0));
    for (const gap of gaps) expect(gap).toBeGreaterThan(800);
    // The abort may land during a run that started on the last boundary: that run (only) is
    // stopped and counts as failed.
    const abortedRuns = runner.aborted.filter((name) => name === "task-db").length;
    expect(abortedRuns).toBeLessThanOrEqual(1);
    expect(scheduler.stats.get("backup:task-db")).toMatchObject({
      succeeded: db.length - abortedRuns,
      failed: abortedRuns,
      skipped: 0,
    });
  });

  it("never runs the same task twice at once: an overdue run is skipped and counted", async () => {
    const runner = new RecordingRunner((name) => (name === "slow" ? 2_500 : 50));
    const controller = new AbortController();
    const scheduler = new Scheduler([everySecond("slow"), everySecond("fast")], runner, {
      log,
      signal: controller.signal,
    });
    const running = scheduler.run();
    await sleep(4_200);
    controller.abort();
    await running;
    expect(runner.maxActive.get("slow")).toBe(1);
    const slow = scheduler.stats.get("backup:slow");
    expect(slow?.skipped).toBeGreaterThanOrEqual(2);
    expect(slow?.started).toBeLessThanOrEqual(2);
    // The slow task does not hold up another one.
    expect(scheduler.stats.get("backup:fast")?.started).toBeGreaterThanOrEqual(3);
  });

  it("on abort starts nothing new, passes the signal to the running task and waits for it", async () => {
    const runner = new RecordingRunner(() => 60_000);
    const controller = new AbortController();
    const scheduler = new Scheduler([everySecond("task-db")], runner, { log, signal: controller.signal });
    const running = scheduler.run();
    await sleep(1_500);
    expect(scheduler.stats.get("backup:task-db")?.running).toBe(true);
    const abortedAt = Date.now();
    controller.abort(new Error("SIGTERM"));
    await running;
    expect(Date.now() - abortedAt).toBeLessThan(1_000);
    expect(runner.aborted).toEqual(["task-db"]);
    const calls = runner.calls.length;
    await sleep(1_200);
    expect(runner.calls.length).toBe(calls);
    expect(scheduler.stats.get("backup:task-db")).toMatchObject({ running: false, failed: 1 });
  });

  it("logs a runner that throws as a failed run and keeps scheduling", async () => {
    let calls = 0;
    const runner: TaskRunner = {
      run: async () => {
        calls += 1;
        throw new Error("engine exploded");
      },
    };
    const controller = new AbortController();
    const scheduler = new Scheduler([everySecond("task-db")], runner, { log, signal: controller.signal });
    const running = scheduler.run();
    await sleep(2_300);
    controller.abort();
    await running;
    expect(calls).toBeGreaterThanOrEqual(2);
    expect(scheduler.stats.get("backup:task-db")?.failed).toBe(calls);
  });

  it("refuses to start with nothing to schedule (exit 2)", () => {
    expect(
      () => new Scheduler([], new RecordingRunner(() => 0), { log, signal: new AbortController().signal }),
    ).toThrow(UsageError);
  });
});

describe("one Docker engine per schedule process", () => {
  const drills = new Map([
    ["a", { drill: { name: "a" } }],
    ["b", { drill: { name: "b", engine: "tcp://10.0.0.9:2376" } }],
    ["c", { drill: { name: "c", engine: "tcp://10.0.0.9:2376" } }],
  ]);
  const drill = (name: string) => everySecond(name, "drill");

  it("accepts drills on one engine, and backups with drills on DOCKER_HOST's engine", () => {
    expect(() => checkOneEngine(drills, [drill("b"), drill("c")], {})).not.toThrow();
    expect(() => checkOneEngine(drills, [everySecond("job"), drill("a")], {})).not.toThrow();
    const env = { DOCKER_HOST: "tcp://10.0.0.9:2376" };
    expect(() => checkOneEngine(drills, [everySecond("job"), drill("b")], env)).not.toThrow();
  });

  it("refuses drills on different engines, or backups that would follow a drill's engine", () => {
    expect(() => checkOneEngine(drills, [drill("a"), drill("b")], {})).toThrow(UsageError);
    expect(() => checkOneEngine(drills, [drill("a"), drill("b")], {})).toThrow(
      /different Docker engines: \(local default\) \(drill a\), tcp:\/\/10\.0\.0\.9:2376 \(drill b\)/,
    );
    expect(() => checkOneEngine(drills, [everySecond("job"), drill("b")], {})).toThrow(
      /scheduled drill b runs on Docker engine tcp:\/\/10\.0\.0\.9:2376, and this process's backups would follow it/,
    );
  });
});
