/**
 * Durations as written in config: one or more `<integer><unit>` parts, e.g. `26h`, `30m`, `90s`,
 * `7d`, `1h30m`. Units: s, m, h, d, w. Months and years are left out on purpose: their length
 * varies, and an RPO or RTO must mean the same number of seconds every time.
 */
const UNIT_SECONDS = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 } as const;
type Unit = keyof typeof UNIT_SECONDS;

const WHOLE = /^(?:\d+[smhdw])+$/;
const PART = /(\d+)([smhdw])/g;

export const DURATION_HELP = "a duration like 90s, 30m, 26h, 7d or 1h30m (units: s, m, h, d, w)";

export function isDuration(text: string): boolean {
  return WHOLE.test(text) && parseDurationSeconds(text) > 0;
}

/** Seconds in a duration string; throws on anything `isDuration` rejects. */
export function parseDurationSeconds(text: string): number {
  if (!WHOLE.test(text)) throw new Error(`not ${DURATION_HELP}: ${JSON.stringify(text)}`);
  let total = 0;
  for (const match of text.matchAll(PART)) {
    const unit = match[2] as Unit;
    total += Number(match[1]) * UNIT_SECONDS[unit];
  }
  return total;
}

/** The shortest exact spelling of a number of seconds, e.g. 93600 -> "1d2h". */
export function formatDuration(seconds: number): string {
  if (seconds <= 0) return "0s";
  let rest = Math.round(seconds);
  let out = "";
  for (const unit of ["w", "d", "h", "m", "s"] as const) {
    const size = UNIT_SECONDS[unit];
    const count = Math.floor(rest / size);
    if (count > 0) {
      out += `${count}${unit}`;
      rest -= count * size;
    }
  }
  return out;
}
