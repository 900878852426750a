import { describe, expect, it } from "vitest";
import type { DrillPhases } from "../kinds/contract.js";
import { runDrillPhases } from "./drill-phases.js";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

type PhaseName = "sandbox" | "restore" | "checks";

/**
 * Phases that sleep and record how long each really took by their own clock. Assertions compare
 * the runner's timings with those, not with the nominal sleeps: a loaded CI box (CI's Node 24
 * unit run shares two cores with a container build) wakes a 30 ms timer 100 ms late.
 */
function phases(order: string[], spent: Partial<Record<PhaseName, number>>, fail?: PhaseName): DrillPhases {
  const phase = (name: PhaseName, ms: number) => async () => {
    order.push(name);
    const started = Date.now();
    await sleep(ms);
    spent[name] = Date.now() - started;
    if (fail === name) throw new Error(`${name} broke`);
    return name === "sandbox" ? undefined : [{ name, ok: true, detail: "" }];
  };
  return {
    sandbox: phase("sandbox", 300) as () => Promise<void>,
    restore: phase("restore", 60) as DrillPhases["restore"],
    checks: phase("checks", 30) as DrillPhases["checks"],
    details: () => ({ order: order.join(",") }),
    stack: () => ({ port: null, env: {}, files: [], volume: null }),
  };
}

/** Each phase timed on its own: at least what it spent, and not the ≥ 300 ms sandbox before it. */
function expectOwnTime(runner: number, own: number | undefined): void {
  expect(own).toBeDefined();
  expect(runner).toBeGreaterThanOrEqual(own ?? Infinity);
  expect(runner).toBeLessThan((own ?? 0) + 250);
}

describe("runDrillPhases: the runner owns the clock", () => {
  it("runs sandbox, restore, checks in order and times each phase itself", async () => {
    const order: string[] = [];
    const spent: Partial<Record<PhaseName, number>> = {};
    const outcome = await runDrillPhases(phases(order, spent));
    expect(order).toEqual(["sandbox", "restore", "checks"]);
    expect(outcome.checks.map((check) => check.name)).toEqual(["restore", "checks"]);
    expect(outcome.timings.setupMs).toBeGreaterThanOrEqual(295);
    expectOwnTime(outcome.timings.setupMs, spent.sandbox);
    expectOwnTime(outcome.timings.restoreMs, spent.restore);
    expectOwnTime(outcome.timings.checksMs, spent.checks);
    expect(outcome.details).toEqual({ order: "sandbox,restore,checks" });
  });

  it("keeps the timings of the phases that ran when one throws, and runs none after it", async () => {
    const order: string[] = [];
    const spent: Partial<Record<PhaseName, number>> = {};
    const timings = { setupMs: 0, restoreMs: 0, checksMs: 0 };
    await expect(runDrillPhases(phases(order, spent, "restore"), timings)).rejects.toThrow(/restore broke/);
    expect(order).toEqual(["sandbox", "restore"]);
    expectOwnTime(timings.setupMs, spent.sandbox);
    expectOwnTime(timings.restoreMs, spent.restore);
    expect(timings.checksMs).toBe(0);
  });
});
