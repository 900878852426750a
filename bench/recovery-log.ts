/**
 * What a PostgreSQL server log says of an archive recovery (bench/cases/postgres-base.ts): how
 * many WAL segments restore_command delivered and how long replaying them took, from the log's
 * own timestamps (log_line_prefix '%m [%p] ', the default) rather than from outside, so server
 * start-up and the end-of-recovery checkpoint are not counted as replay.
 */

export interface RecoveryLog {
  /** Distinct WAL segments "restored ... from archive" (history files not counted). */
  restored: number;
  /** From "starting archive recovery" to "redo done"; null when either line is missing. */
  redoSeconds: number | null;
  segmentsPerSecond: number | null;
  /** From "redo done" to "ready to accept connections": history files asked for, the new timeline, the end-of-recovery checkpoint. */
  endSeconds: number | null;
}

/** restore_command's backdrill starts, from the wrapper's lines `S <epoch s> <args>` / `E <epoch s> <status>`. */
export interface CliCalls {
  starts: number;
  /** Starts that found nothing (status 1: not in the archive, which ends recovery or a timeline probe). */
  misses: number;
  /** Wall time inside them, summed. */
  seconds: number;
}

export function parseCliCalls(text: string): CliCalls {
  let starts = 0;
  let misses = 0;
  let seconds = 0;
  let open: number | null = null;
  for (const line of text.split("\n")) {
    const [what, at, rest] = line.split(" ", 3);
    const time = Number(at);
    if (what === "S" && Number.isFinite(time)) {
      starts += 1;
      open = time;
    } else if (what === "E" && Number.isFinite(time) && open !== null) {
      seconds += time - open;
      if (rest === "1") misses += 1;
      open = null;
    }
  }
  return { starts, misses, seconds };
}

const STAMP = /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2}(?:\.\d+)?) /;

function stamp(line: string | undefined): number | null {
  const match = STAMP.exec(line ?? "");
  // All lines of one log share the zone: read them as UTC, only differences are used.
  return match === null ? null : Date.parse(`${match[1]}T${match[2]}Z`);
}

export function parseRecoveryLog(text: string): RecoveryLog {
  const lines = text.split("\n");
  const restored = new Set(
    lines.flatMap((line) => /restored log file "([0-9A-F]{24})" from archive/.exec(line)?.[1] ?? []),
  );
  const begin = stamp(lines.find((line) => /starting (point-in-time|archive) recovery/.test(line)));
  const end = stamp(lines.find((line) => /redo done at/.test(line)));
  const redoSeconds = begin === null || end === null ? null : (end - begin) / 1000;
  const ready = stamp(lines.find((line) => /database system is ready to accept connections/.test(line)));
  return {
    endSeconds: end === null || ready === null ? null : (ready - end) / 1000,
    restored: restored.size,
    redoSeconds,
    segmentsPerSecond: redoSeconds === null || redoSeconds <= 0 ? null : restored.size / redoSeconds,
  };
}
