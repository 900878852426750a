/**
 * Retention selection: which snapshots of one job a policy keeps. Pure (no I/O); `prune.ts`
 * applies the result.
 *
 * The rules follow restic's `forget` (internal/restic/snapshot_policy.go), so operators who know
 * restic get no surprises:
 *
 *   - Snapshots are walked newest first (by `createdAt`, ties broken by id).
 *   - Each rule has a budget N and a bucket function: keepLast — every snapshot is its own bucket;
 *     keepHourly — the calendar hour; keepDaily — the calendar day; keepWeekly — the ISO 8601
 *     week (Monday to Sunday, week-numbering year); keepMonthly — the calendar month;
 *     keepYearly — the calendar year.
 *   - A snapshot is kept by a rule when the rule has budget left and the snapshot falls in a
 *     different bucket than the last snapshot that rule kept. So each rule keeps the NEWEST
 *     snapshot of each of its N most recent buckets that have snapshots (buckets without a
 *     snapshot do not use up budget: keepDaily 7 over a week with a gap keeps 7 distinct days,
 *     reaching further back).
 *   - Rules are independent: a snapshot kept by keepLast still counts against keepDaily if it is
 *     the newest of its day. A snapshot is kept if ANY rule keeps it, and all matching rules are
 *     listed as reasons.
 *   - The oldest snapshot is also kept by any rule that still has budget left when the walk
 *     reaches it (restic ≥ 0.17: "maximises the history length kept while some counts are left").
 *   - A policy whose budgets are all 0 keeps everything (restic: "policy is empty"); the config
 *     schema already rejects such a policy.
 *
 * Where backdrill adds to restic:
 *   - Calendar buckets are computed in the policy's `timezone` (default UTC), the zone its
 *     schedule runs in, so "daily" means the operator's day. restic uses each snapshot's own
 *     recorded zone.
 *   - The newest snapshot is always kept, whatever the rules say (with a non-empty policy every
 *     rule keeps it anyway; this is a second line of defence, stated as its own reason).
 *   - Every snapshot gets a reason, including the removed ones: for each rule, why it did not keep
 *     it (its bucket already has a newer kept snapshot, or the rule's budget was used up).
 */
import type { RetentionConfig } from "../schema/policy.js";

export interface RetentionSnapshot {
  id: string;
  /** ISO time the snapshot was taken (the manifest's createdAt). */
  createdAt: string;
}

export type RuleName = "last" | "hourly" | "daily" | "weekly" | "monthly" | "yearly";

export interface RetentionDecision<S extends RetentionSnapshot> {
  snapshot: S;
  keep: boolean;
  /** Kept: the rules that keep it ("daily 2026-11-28 (3 of 7)"). Removed: why no rule kept it. */
  reasons: string[];
}

export interface RetentionOptions {
  /** IANA zone for the calendar buckets; default UTC. */
  timezone?: string | undefined;
}

interface Rule {
  name: RuleName;
  key: keyof RetentionConfig;
  budget: number;
  bucket: (time: CalendarTime, index: number) => string;
}

interface CalendarTime {
  year: number;
  month: number;
  day: number;
  hour: number;
}

/**
 * Decides keep/remove for every snapshot of ONE job. Returns one decision per snapshot, oldest
 * first (the order `backdrill snapshots` lists them in).
 */
export function selectRetention<S extends RetentionSnapshot>(
  snapshots: readonly S[],
  retention: RetentionConfig,
  options: RetentionOptions = {},
): Array<RetentionDecision<S>> {
  const zone = options.timezone ?? "UTC";
  const calendar = calendarIn(zone);
  const newestFirst = [...snapshots].sort(
    (a, b) => timeOf(b) - timeOf(a) || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0),
  );
  const rules = rulesOf(retention);
  if (rules.length === 0) {
    return newestFirst
      .map((snapshot) => ({
        snapshot,
        keep: true,
        reasons: ["policy keeps nothing specific: everything kept"],
      }))
      .reverse();
  }

  const remaining = new Map(rules.map((rule) => [rule.name, rule.budget]));
  const lastBucket = new Map<RuleName, { bucket: string; id: string }>();
  const decisions: Array<RetentionDecision<S>> = [];

  newestFirst.forEach((snapshot, index) => {
    const time = calendar(new Date(snapshot.createdAt));
    const isOldest = index === newestFirst.length - 1;
    const kept: string[] = [];
    const notKept: string[] = [];
    for (const rule of rules) {
      const left = remaining.get(rule.name) ?? 0;
      const bucket = rule.bucket(time, index);
      const previous = lastBucket.get(rule.name);
      if (left <= 0) {
        notKept.push(`${rule.name}: all ${rule.budget} used by newer snapshots`);
        continue;
      }
      if (previous !== undefined && previous.bucket === bucket && !isOldest) {
        notKept.push(`${rule.name}: ${bucket} already kept by newer ${previous.id}`);
        continue;
      }
      const used = rule.budget - left + 1;
      remaining.set(rule.name, left - 1);
      lastBucket.set(rule.name, { bucket, id: snapshot.id });
      const label = rule.name === "last" ? "last" : `${rule.name} ${bucket}`;
      const oldest =
        previous !== undefined && previous.bucket === bucket ? ", oldest snapshot, budget left" : "";
      kept.push(`${label} (${used} of ${rule.budget}${oldest})`);
    }
    if (index === 0 && kept.length === 0) kept.push("newest snapshot (never removed)");
    decisions.push(
      kept.length > 0 ? { snapshot, keep: true, reasons: kept } : { snapshot, keep: false, reasons: notKept },
    );
  });
  return decisions.reverse();
}

/** The rules with a budget above 0, in restic's order. */
function rulesOf(retention: RetentionConfig): Rule[] {
  const all: Rule[] = [
    { name: "last", key: "keepLast", budget: retention.keepLast ?? 0, bucket: (_time, index) => `#${index}` },
    {
      name: "hourly",
      key: "keepHourly",
      budget: retention.keepHourly ?? 0,
      bucket: (t) => `${ymd(t)}T${pad(t.hour)}`,
    },
    { name: "daily", key: "keepDaily", budget: retention.keepDaily ?? 0, bucket: (t) => ymd(t) },
    { name: "weekly", key: "keepWeekly", budget: retention.keepWeekly ?? 0, bucket: isoWeek },
    {
      name: "monthly",
      key: "keepMonthly",
      budget: retention.keepMonthly ?? 0,
      bucket: (t) => `${t.year}-${pad(t.month)}`,
    },
    { name: "yearly", key: "keepYearly", budget: retention.keepYearly ?? 0, bucket: (t) => String(t.year) },
  ];
  return all.filter((rule) => rule.budget > 0);
}

/** Short human summary of a policy's rules, e.g. "keepLast 3, keepDaily 7". */
export function describeRetention(retention: RetentionConfig): string {
  const parts = rulesOf(retention).map((rule) => `${rule.key} ${rule.budget}`);
  return parts.length === 0 ? "keep everything" : parts.join(", ");
}

function timeOf(snapshot: RetentionSnapshot): number {
  const time = Date.parse(snapshot.createdAt);
  if (Number.isNaN(time))
    throw new Error(`snapshot ${snapshot.id} has an invalid createdAt ${snapshot.createdAt}`);
  return time;
}

/** Wall-clock year/month/day/hour of an instant in `zone`. */
function calendarIn(zone: string): (date: Date) => CalendarTime {
  const format = new Intl.DateTimeFormat("en-US", {
    timeZone: zone,
    year: "numeric",
    month: "numeric",
    day: "numeric",
    hour: "numeric",
    hourCycle: "h23",
  });
  return (date) => {
    const parts: Record<string, number> = {};
    for (const part of format.formatToParts(date)) {
      if (part.type !== "literal") parts[part.type] = Number(part.value);
    }
    return { year: parts.year ?? 0, month: parts.month ?? 0, day: parts.day ?? 0, hour: parts.hour ?? 0 };
  };
}

/** ISO 8601 week, e.g. "2026-W48": weeks start on Monday; week 1 holds the year's first Thursday. */
export function isoWeek(time: Pick<CalendarTime, "year" | "month" | "day">): string {
  const date = new Date(Date.UTC(time.year, time.month - 1, time.day));
  const weekday = date.getUTCDay() === 0 ? 7 : date.getUTCDay();
  // The Thursday of this week decides the week-numbering year.
  date.setUTCDate(date.getUTCDate() + 4 - weekday);
  const weekYear = date.getUTCFullYear();
  const week = Math.ceil(((date.getTime() - Date.UTC(weekYear, 0, 1)) / 86_400_000 + 1) / 7);
  return `${weekYear}-W${pad(week)}`;
}

function ymd(t: CalendarTime): string {
  return `${t.year}-${pad(t.month)}-${pad(t.day)}`;
}

function pad(value: number): string {
  return String(value).padStart(2, "0");
}

/**
 * Retention's decision, plus what a kept snapshot needs to be restored (the kind says which:
 * an incremental backup's full backup and intermediates). Never removes a keep.
 */
export function withNeeded<S extends RetentionSnapshot>(
  decisions: Array<RetentionDecision<S>>,
  snapshots: readonly S[],
  keepAlso: ((kept: readonly S[], all: readonly S[]) => Array<{ id: string; reason: string }>) | undefined,
): Array<RetentionDecision<S>> {
  if (keepAlso === undefined) return decisions;
  const kept = decisions.filter((decision) => decision.keep).map((decision) => decision.snapshot);
  const needed = new Map<string, string[]>();
  for (const { id, reason } of keepAlso(kept, snapshots)) needed.set(id, [...(needed.get(id) ?? []), reason]);
  return decisions.map((decision) => {
    const reasons = needed.get(decision.snapshot.id);
    if (reasons === undefined || decision.keep) return decision;
    return { ...decision, keep: true, reasons };
  });
}
