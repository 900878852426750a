import { describe, expect, it } from "vitest";
import type { DrillPhases } from "../kinds/contract.js";
import { runDrillPhases } from "./drill-phases.js";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function phases(order: string[], fail?: "sandbox" | "restore" | "checks"): DrillPhases {
  const phase = (name: "sandbox" | "restore" | "checks", ms: number) => async () => {
    order.push(name);
    await sleep(ms);
    if (fail === name) throw new Error(`${name} broke`);
    return name === "sandbox" ? undefined : [{ name, ok: true, detail: "" }];
  };
  return {
    sandbox: phase("sandbox", 120) as () => Promise<void>,
    restore: phase("restore", 60) as DrillPhases["restore"],
    checks: phase("checks", 30) as DrillPhases["checks"],
    details: () => ({ order: order.join(",") }),
    stack: () => ({ port: null, env: {}, files: [], volume: null }),
  };
}

describe("runDrillPhases: the runner owns the clock", () => {
  it("runs sandbox, restore, checks in order and times each phase itself", async () => {
    const order: string[] = [];
    const outcome = await runDrillPhases(phases(order));
    expect(order).toEqual(["sandbox", "restore", "checks"]);
    expect(outcome.checks.map((check) => check.name)).toEqual(["restore", "checks"]);
    expect(outcome.timings.setupMs).toBeGreaterThanOrEqual(115);
    expect(outcome.timings.restoreMs).toBeGreaterThanOrEqual(55);
    expect(outcome.timings.restoreMs).toBeLessThan(outcome.timings.setupMs);
    expect(outcome.timings.checksMs).toBeGreaterThanOrEqual(25);
    expect(outcome.timings.checksMs).toBeLessThan(outcome.timings.restoreMs);
    expect(outcome.details).toEqual({ order: "sandbox,restore,checks" });
  });

  it("keeps the timings of the phases that ran when one throws, and runs none after it", async () => {
    const order: string[] = [];
    const timings = { setupMs: 0, restoreMs: 0, checksMs: 0 };
    await expect(runDrillPhases(phases(order, "restore"), timings)).rejects.toThrow(/restore broke/);
    expect(order).toEqual(["sandbox", "restore"]);
    expect(timings.setupMs).toBeGreaterThanOrEqual(115);
    expect(timings.restoreMs).toBeGreaterThanOrEqual(55);
    expect(timings.checksMs).toBe(0);
  });
});
