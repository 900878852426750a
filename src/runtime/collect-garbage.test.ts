import { PerformanceObserver, constants } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { collectGarbage } from "./collect-garbage.js";

/** Full (mark-compact) collections that happen while `work` runs. */
async function majorCollections(work: () => Promise<void>): Promise<number> {
  let count = 0;
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries())
      if ((entry as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR)
        count++;
  });
  observer.observe({ entryTypes: ["gc"] });
  await work();
  // Entries are delivered asynchronously.
  await sleep(20);
  observer.disconnect();
  return count;
}

describe("collectGarbage", () => {
  it("collects what nothing references, without --expose-gc", async () => {
    await sleep(60);
    const ref = new WeakRef({ payload: Buffer.alloc(1024 * 1024) });
    // A WeakRef's target lives at least until the end of the turn that created it.
    await sleep(0);
    collectGarbage();
    expect(ref.deref()).toBeUndefined();
  });

  // Counted from the end of the last collection: under load a full collection of the test
  // worker's heap took over 50 ms, and three calls made three (CI beside the quick start).
  it("runs at most one collection per 50 ms after the last one ended", async () => {
    await sleep(60);
    expect(
      await majorCollections(async () => {
        collectGarbage();
        collectGarbage();
        collectGarbage();
      }),
    ).toBe(1);
    await sleep(60);
    expect(await majorCollections(async () => collectGarbage())).toBe(1);
  });
});
