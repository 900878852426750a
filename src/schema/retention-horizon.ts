/**
 * How old the oldest snapshot a retention policy keeps can get, in days: the longest reach of its
 * rules (keepMonthly 12 keeps a snapshot of a year ago). Used where something else expires earlier
 * and would leave old snapshots unrestorable (an s3-bucket job's object versions).
 *
 * keepLast counts runs, not days: it reaches as far back as `keepLast` runs of the schedule. Without
 * a schedule (manual runs) keepLast says nothing about age and is left out.
 */
import { Cron } from "croner";
import type { RetentionConfig } from "./policy.js";

const DAY_MS = 86_400_000;

/** Days between two runs of the schedule (from its next two runs), or undefined. */
function scheduleIntervalDays(
  schedule: string | undefined,
  timezone: string | undefined,
): number | undefined {
  if (schedule === undefined) return undefined;
  const cron = new Cron(schedule, timezone === undefined ? {} : { timezone });
  const runs = cron.nextRuns(2, new Date(Date.UTC(2026, 0, 5)));
  const [first, second] = runs;
  if (first === undefined || second === undefined) return undefined;
  return (second.getTime() - first.getTime()) / DAY_MS;
}

export interface RetentionHorizon {
  days: number;
  /** The rule that reaches furthest, as written: `keepMonthly 12`. */
  rule: string;
}

export function retentionHorizon(
  retention: RetentionConfig,
  schedule?: { schedule?: string | undefined; timezone?: string | undefined },
): RetentionHorizon | undefined {
  const interval = scheduleIntervalDays(schedule?.schedule, schedule?.timezone);
  const reaches: Array<[string, number | undefined]> = [
    ["keepLast", interval === undefined ? undefined : (retention.keepLast ?? 0) * interval],
    ["keepHourly", (retention.keepHourly ?? 0) / 24],
    ["keepDaily", retention.keepDaily ?? 0],
    ["keepWeekly", (retention.keepWeekly ?? 0) * 7],
    ["keepMonthly", (retention.keepMonthly ?? 0) * 31],
    ["keepYearly", (retention.keepYearly ?? 0) * 366],
  ];
  let best: RetentionHorizon | undefined;
  for (const [key, days] of reaches) {
    const count = retention[key as keyof RetentionConfig] ?? 0;
    if (days === undefined || count === 0) continue;
    if (best === undefined || days > best.days) best = { days: Math.ceil(days), rule: `${key} ${count}` };
  }
  return best;
}
