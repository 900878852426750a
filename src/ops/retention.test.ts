import { describe, expect, it } from "vitest";
import type { RetentionConfig } from "../schema/policy.js";
import { isoWeek, selectRetention, type RetentionSnapshot } from "./retention.js";

/** One snapshot per day at 02:15 UTC through 2025 (365 snapshots; 2025-12-31 is a Wednesday). */
function year2025(): RetentionSnapshot[] {
  const out: RetentionSnapshot[] = [];
  for (let day = 0; day < 365; day++) {
    const at = new Date(Date.UTC(2025, 0, 1 + day, 2, 15));
    out.push({ id: stamp(at), createdAt: at.toISOString() });
  }
  return out;
}

function stamp(at: Date): string {
  return `${at
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d{3}Z$/, "Z")}-000000`;
}

function keptDays(snapshots: RetentionSnapshot[], retention: RetentionConfig, timezone?: string): string[] {
  return selectRetention(snapshots, retention, { timezone })
    .filter((decision) => decision.keep)
    .map((decision) => decision.snapshot.createdAt.slice(0, 10));
}

const months = [
  "01-31",
  "02-28",
  "03-31",
  "04-30",
  "05-31",
  "06-30",
  "07-31",
  "08-31",
  "09-30",
  "10-31",
  "11-30",
  "12-31",
];

describe("selectRetention over a year of daily snapshots", () => {
  const year = year2025();
  const cases: Array<{ name: string; retention: RetentionConfig; kept: string[] }> = [
    { name: "keepLast 3", retention: { keepLast: 3 }, kept: ["2025-12-29", "2025-12-30", "2025-12-31"] },
    {
      name: "keepDaily 7",
      retention: { keepDaily: 7 },
      kept: ["25", "26", "27", "28", "29", "30", "31"].map((d) => `2025-12-${d}`),
    },
    {
      // ISO weeks: 2025-12-31 is in 2026-W01 (Mon 29th - Wed 31st); the newest of each earlier
      // week is its Sunday.
      name: "keepWeekly 5",
      retention: { keepWeekly: 5 },
      kept: ["2025-12-07", "2025-12-14", "2025-12-21", "2025-12-28", "2025-12-31"],
    },
    { name: "keepMonthly 12", retention: { keepMonthly: 12 }, kept: months.map((m) => `2025-${m}`) },
    {
      // Budget left when the oldest is reached: restic keeps the oldest too (longest history).
      name: "keepMonthly 24 keeps the oldest as well",
      retention: { keepMonthly: 24 },
      kept: ["2025-01-01", ...months.map((m) => `2025-${m}`)],
    },
    { name: "keepYearly 1", retention: { keepYearly: 1 }, kept: ["2025-12-31"] },
    { name: "keepYearly 3", retention: { keepYearly: 3 }, kept: ["2025-01-01", "2025-12-31"] },
    {
      name: "keepHourly 5 (one snapshot per hour bucket)",
      retention: { keepHourly: 5 },
      kept: ["27", "28", "29", "30", "31"].map((d) => `2025-12-${d}`),
    },
    {
      name: "the README example: keepLast 3, keepDaily 7, keepWeekly 5, keepMonthly 12",
      retention: { keepLast: 3, keepDaily: 7, keepWeekly: 5, keepMonthly: 12 },
      kept: [
        ...months.slice(0, 11).map((m) => `2025-${m}`),
        "2025-12-07",
        "2025-12-14",
        "2025-12-21",
        ...["25", "26", "27", "28", "29", "30", "31"].map((d) => `2025-12-${d}`),
      ],
    },
    {
      name: "keepLast 400 keeps everything",
      retention: { keepLast: 400 },
      kept: year.map((s) => s.createdAt.slice(0, 10)),
    },
    {
      name: "keepDaily 2, keepYearly 1: overlapping rules keep the union",
      retention: { keepDaily: 2, keepYearly: 1 },
      kept: ["2025-12-30", "2025-12-31"],
    },
    {
      name: "everything 0 keeps everything (restic: empty policy)",
      retention: {},
      kept: year.map((s) => s.createdAt.slice(0, 10)),
    },
  ];
  it.each(cases)("$name", ({ retention, kept }) => {
    expect(keptDays(year, retention)).toEqual([...kept].sort());
  });

  it("returns one decision per snapshot, oldest first, with reasons for both outcomes", () => {
    const decisions = selectRetention(year, { keepLast: 2, keepMonthly: 1 });
    expect(decisions).toHaveLength(365);
    expect(decisions[0]?.snapshot.createdAt).toMatch(/^2025-01-01/);
    const newest = decisions.at(-1);
    expect(newest?.keep).toBe(true);
    expect(newest?.reasons).toEqual(["last (1 of 2)", "monthly 2025-12 (1 of 1)"]);
    expect(decisions.at(-2)?.reasons).toEqual(["last (2 of 2)"]);
    const removed = decisions.at(-3);
    expect(removed?.keep).toBe(false);
    expect(removed?.reasons).toEqual([
      "last: all 2 used by newer snapshots",
      "monthly: all 1 used by newer snapshots",
    ]);
  });

  it("explains a removal by the newer snapshot that already covers the bucket", () => {
    const decisions = selectRetention(year, { keepMonthly: 30 });
    const dec30 = decisions.find((decision) => decision.snapshot.createdAt.startsWith("2025-12-30"));
    expect(dec30?.keep).toBe(false);
    expect(dec30?.reasons[0]).toMatch(/^monthly: 2025-12 already kept by newer 20251231T021500Z/);
  });
});

describe("selectRetention, finer points", () => {
  it("keeps the newest snapshot of each hour", () => {
    // Every 15 minutes for 6 hours.
    const snapshots: RetentionSnapshot[] = [];
    for (let i = 0; i < 24; i++) {
      const at = new Date(Date.UTC(2026, 10, 28, 0, 15 * i));
      snapshots.push({ id: stamp(at), createdAt: at.toISOString() });
    }
    const kept = selectRetention(snapshots, { keepHourly: 3 })
      .filter((decision) => decision.keep)
      .map((decision) => decision.snapshot.createdAt.slice(11, 16));
    expect(kept).toEqual(["03:45", "04:45", "05:45"]);
  });

  it("computes calendar buckets in the policy's time zone", () => {
    const at = (iso: string): RetentionSnapshot => ({ id: stamp(new Date(iso)), createdAt: iso });
    // In UTC all three are on June 1st; in Moscow (UTC+3) the newest is on June 2nd.
    const snapshots = [
      at("2026-06-01T10:00:00.000Z"),
      at("2026-06-01T20:00:00.000Z"),
      at("2026-06-01T22:30:00.000Z"),
    ];
    const utc = keptDays(snapshots, { keepDaily: 2 });
    expect(utc).toEqual(["2026-06-01", "2026-06-01"]); // the newest, and the oldest (budget left)
    const moscow = selectRetention(snapshots, { keepDaily: 2 }, { timezone: "Europe/Moscow" });
    expect(moscow.map((decision) => decision.keep)).toEqual([false, true, true]);
    expect(moscow[2]?.reasons).toEqual(["daily 2026-06-02 (1 of 2)"]);
    expect(moscow[1]?.reasons).toEqual(["daily 2026-06-01 (2 of 2)"]);
  });

  it("does not depend on input order and breaks time ties by id", () => {
    const a = { id: "20261128T021500Z-aaaaaa", createdAt: "2026-11-28T02:15:00.000Z" };
    const b = { id: "20261128T021500Z-bbbbbb", createdAt: "2026-11-28T02:15:00.000Z" };
    const c = { id: "20261127T021500Z-cccccc", createdAt: "2026-11-27T02:15:00.000Z" };
    for (const order of [
      [a, b, c],
      [c, b, a],
      [b, c, a],
    ]) {
      const decisions = selectRetention(order, { keepLast: 1 });
      expect(decisions.map((decision) => [decision.snapshot.id, decision.keep])).toEqual([
        [c.id, false],
        [a.id, false],
        [b.id, true],
      ]);
    }
  });

  it("handles no snapshots", () => {
    expect(selectRetention([], { keepLast: 3 })).toEqual([]);
  });

  it("numbers ISO weeks across year boundaries", () => {
    expect(isoWeek({ year: 2025, month: 12, day: 31 })).toBe("2026-W01");
    expect(isoWeek({ year: 2027, month: 1, day: 1 })).toBe("2026-W53");
    expect(isoWeek({ year: 2026, month: 11, day: 28 })).toBe("2026-W48");
    expect(isoWeek({ year: 2026, month: 1, day: 4 })).toBe("2026-W01");
    expect(isoWeek({ year: 2026, month: 1, day: 5 })).toBe("2026-W02");
  });
});
