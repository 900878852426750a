/**
 * Cron expressions and time zones are checked with the same libraries the scheduler uses (croner,
 * Intl), so an expression that validates is one that will actually fire.
 */
import { Cron } from "croner";
import { didYouMean } from "./suggest.js";

export const CRON_HELP =
  '5 fields "minute hour day-of-month month day-of-week" (or 6 with seconds first), e.g. "15 2 * * *"';

/** Why a cron expression is unusable, or undefined when it is fine. */
export function cronProblem(expression: string, timezone?: string): string | undefined {
  let next: Date | null;
  try {
    next = new Cron(expression, timezone === undefined ? {} : { timezone }).nextRun();
  } catch (error) {
    const reason =
      error instanceof Error ? userCounting(error.message.replace(/^CronPattern:\s*/, "")) : String(error);
    return `not a valid cron expression ${JSON.stringify(expression)}: ${reason}; expected ${CRON_HELP}`;
  }
  if (next === null) {
    return `cron expression ${JSON.stringify(expression)} never fires (e.g. February 30th); check day and month`;
  }
  return undefined;
}

export function isTimezone(name: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

export function timezoneProblem(name: string): string | undefined {
  if (isTimezone(name)) return undefined;
  const known = Intl.supportedValuesOf("timeZone");
  return (
    `unknown time zone ${JSON.stringify(name)}; expected an IANA name like Europe/Moscow or UTC` +
    didYouMean(name, known)
  );
}

/**
 * croner counts days and months from 0 internally and reports the shifted value ("day 32" comes
 * back as "Invalid value for day: 31"); say the value the user wrote, and the allowed range.
 */
function userCounting(reason: string): string {
  return reason.replace(
    /^Invalid value for (day|month): (-?\d+)$/,
    (_match, field: string, value: string) => {
      const range = field === "day" ? "1-31" : "1-12";
      return `Invalid value for ${field === "day" ? "day-of-month" : "month"}: ${Number(value) + 1} (allowed ${range})`;
    },
  );
}
