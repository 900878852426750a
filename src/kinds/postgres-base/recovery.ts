/**
 * Recovery targets and settings, shared by the drill (a throwaway container) and the disaster
 * restore (a data directory on a real host), plus reading PostgreSQL's recovery log lines.
 *
 * Targets:
 *   latest       replay everything archived, then promote.
 *   <ISO time>   recovery_target_time; must not precede the base backup's consistency point.
 *   random       an LSN drawn uniformly between the backup's stop LSN and the start of the newest
 *                archived segment. An LSN rather than a time on purpose: a random *time* may fall
 *                after the last archived commit, and PostgreSQL (13+) then refuses to finish
 *                recovery ("recovery ended before configured recovery target was reached"),
 *                failing a perfectly good archive. Every LSN inside archived WAL is reachable.
 */
import { UsageError } from "../../errors.js";
import { formatLsn, parseLsn } from "./wal-name.js";

export type RecoveryTarget =
  { kind: "latest" } | { kind: "time"; time: string } | { kind: "lsn"; lsn: string; chosenAs: "random" };

export interface TargetWindow {
  /** The backup's consistency point. */
  stopLsn: string;
  stopTime: string;
  /** Start LSN of the newest archived segment (null: nothing archived after the backup). */
  newestSegmentStartLsn: number | null;
}

export function resolveTarget(
  pitr: string | undefined,
  window: TargetWindow,
  random = Math.random,
): RecoveryTarget {
  if (pitr === undefined || pitr === "latest") return { kind: "latest" };
  if (pitr === "random") {
    const low = parseLsn(window.stopLsn);
    const high = window.newestSegmentStartLsn;
    if (high === null || high <= low) return { kind: "latest" };
    return { kind: "lsn", lsn: formatLsn(low + Math.floor(random() * (high - low))), chosenAs: "random" };
  }
  const time = Date.parse(pitr);
  if (Number.isNaN(time)) {
    throw new UsageError(
      `point in time "${pitr}" is not latest, random or an ISO time like 2026-11-28T02:15:00Z`,
    );
  }
  if (time < Date.parse(window.stopTime)) {
    throw new UsageError(
      `point in time ${pitr} is before the base backup's consistency point (${window.stopTime}); ` +
        "choose an older snapshot (--snapshot) or a later time",
    );
  }
  return { kind: "time", time: new Date(time).toISOString() };
}

export function describeTarget(target: RecoveryTarget): string {
  switch (target.kind) {
    case "latest":
      return "the end of the archived WAL (latest)";
    case "time":
      return `time ${target.time}`;
    case "lsn":
      return `LSN ${target.lsn} (${target.chosenAs})`;
  }
}

/**
 * Quotes a value for postgresql.conf: single quotes doubled and backslashes doubled (the file's
 * parser reads `\'` as an escaped quote, so a lone backslash could end the value early). A line
 * break cannot be quoted at all and is refused: it would start a setting of its own.
 */
export function confValue(value: string): string {
  if (/[\r\n\0]/.test(value))
    throw new UsageError(`a recovery setting cannot hold a line break: ${JSON.stringify(value)}`);
  return `'${value.replace(/\\/g, "\\\\").replace(/'/g, "''")}'`;
}

/** The recovery GUCs for `target` with `restoreCommand`, as name → raw value. */
export function recoverySettings(target: RecoveryTarget, restoreCommand: string): Array<[string, string]> {
  const settings: Array<[string, string]> = [
    ["restore_command", restoreCommand],
    ["recovery_target_timeline", "latest"],
  ];
  // PostgreSQL's check of recovery_target_time rejects ISO 8601 with "T" and "Z" in the postmaster
  // (no time zone loaded yet); "YYYY-MM-DD HH:MM:SS.mmm+00" is accepted everywhere.
  if (target.kind === "time") {
    settings.push(["recovery_target_time", target.time.replace("T", " ").replace(/Z$/, "+00")]);
  }
  if (target.kind === "lsn") settings.push(["recovery_target_lsn", target.lsn]);
  if (target.kind !== "latest") {
    settings.push(["recovery_target_inclusive", "off"], ["recovery_target_action", "promote"]);
  }
  return settings;
}

export interface RecoveryLog {
  /** Segment files restore_command delivered ("restored log file ... from archive"). */
  restoredSegments: number;
  /** "recovery stopping before commit of transaction 123, time ..." and similar. */
  stopLine: string | undefined;
  /** Commit time of the last replayed transaction, as PostgreSQL logged it. */
  lastTransactionTime: string | undefined;
  /** "selected new timeline ID: 2". */
  newTimeline: number | undefined;
  promoted: boolean;
  /** FATAL/PANIC lines, for failure messages. */
  fatal: string[];
}

/** Extracts the recovery facts from the server log (stderr, default log_line_prefix or not). */
export function parseRecoveryLog(log: string): RecoveryLog {
  const lines = log.split("\n");
  const restored = new Set<string>();
  let stopLine: string | undefined;
  let lastTransactionTime: string | undefined;
  let newTimeline: number | undefined;
  let promoted = false;
  const fatal: string[] = [];
  for (const line of lines) {
    const restoredMatch = /restored log file "([0-9A-F]{24})" from archive/.exec(line);
    if (restoredMatch?.[1] !== undefined) restored.add(restoredMatch[1]);
    if (/recovery stopping (before|after)/.test(line))
      stopLine = line.replace(/^.*?(recovery stopping)/, "$1");
    const last = /last completed transaction was at log time (.+)$/.exec(line);
    if (last?.[1] !== undefined) lastTransactionTime = last[1].trim();
    const timeline = /selected new timeline ID: (\d+)/.exec(line);
    if (timeline?.[1] !== undefined) newTimeline = Number(timeline[1]);
    if (
      /archive recovery complete|database system is ready to accept connections/.test(line) &&
      newTimeline !== undefined
    ) {
      promoted = true;
    }
    if (/\b(FATAL|PANIC):/.test(line)) fatal.push(line.trim());
  }
  return { restoredSegments: restored.size, stopLine, lastTransactionTime, newTimeline, promoted, fatal };
}

/** `2026-11-28 16:49:17.123456+00` (PostgreSQL's log format) → epoch ms, or NaN. */
export function parsePgTimestamp(text: string): number {
  const match = /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2}(?:\.\d+)?)([+-]\d{2})(?::?(\d{2}))?$/.exec(
    text.trim(),
  );
  if (match === null) return Number.NaN;
  const fraction = (match[2] ?? "").replace(/(\.\d{3})\d+/, "$1");
  return Date.parse(`${match[1]}T${fraction}${match[3]}:${match[4] ?? "00"}`);
}
