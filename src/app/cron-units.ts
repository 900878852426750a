/**
 * `backdrill cron`: the same schedules as `backdrill schedule`, for teams who prefer the host's
 * scheduler — crontab lines, or a systemd service + timer pair per job and per drill.
 *
 * Translation of croner expressions:
 *   - Fields are expanded to explicit value sets, then rendered as crontab fields (unchanged
 *     text) or systemd `OnCalendar=` components (comma lists, which every systemd understands).
 *   - When both day-of-month and day-of-week are restricted, cron (and croner, in its default
 *     legacy mode) fires when EITHER matches, while systemd requires both; the timer then gets
 *     two `OnCalendar=` lines, whose union is cron's meaning.
 *   - A seconds field other than 0 cannot be expressed in crontab (one-minute resolution): that
 *     entry is refused for crontab, and systemd gets it with `AccuracySec=1s`.
 *   - croner extensions (L, W, #) have no systemd/crontab equivalent and are refused with a
 *     message naming the entry. The `schedule` command supports them.
 *   - The zone: systemd puts it in `OnCalendar=`; crontab gets a `CRON_TZ=` line, which cronie
 *     honours but Debian's cron ignores (a comment says so).
 *
 * Jobs that need a long-running process (`wal ship` of a postgres-base job with a `spool`) get a
 * restarting service, or in crontab a drain every minute (DaemonTask).
 *
 * Backups are followed by `prune` of the same job (retention applied nightly, like the scheduler),
 * only when the backup succeeded (`&&` in crontab, a second `ExecStart=` in the oneshot service).
 */
import { UsageError } from "../errors.js";
import type { ScheduledTask } from "./scheduler.js";
import type { Config } from "../config/types.js";
import { kindOf } from "../kinds/registry.js";

export interface UnitOptions {
  /** Absolute path of the backdrill executable. */
  bin: string;
  /** Absolute config directory passed as --config-dir. */
  configDir: string;
  /** Environment file with the secrets (`KEY=value` lines); optional in systemd (`-` prefix). */
  envFile: string;
  /** System user the runs use (systemd `User=`; /etc/cron.d user column). */
  user: string;
  /** Append `prune <job>` after each successful backup (default true). */
  prune: boolean;
  /** crontab flavour: "user" (crontab -e) or "system" (/etc/cron.d, with a user column). */
  crontabFlavour?: "user" | "system";
}

interface CronFields {
  seconds: number[];
  minutes: number[];
  hours: number[];
  days: number[];
  months: number[];
  weekdays: number[];
  daysRestricted: boolean;
  weekdaysRestricted: boolean;
  /** The five minute..weekday fields as written (for crontab). */
  text: string[];
  secondsText: string;
}

const NICKNAMES: Record<string, string> = {
  "@yearly": "0 0 1 1 *",
  "@annually": "0 0 1 1 *",
  "@monthly": "0 0 1 * *",
  "@weekly": "0 0 * * 0",
  "@daily": "0 0 * * *",
  "@midnight": "0 0 * * *",
  "@hourly": "0 * * * *",
};
const MONTH_NAMES = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"];
const DAY_NAMES = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
const SYSTEMD_DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];

/** Parses a croner expression into value sets; UsageError for what cannot be translated. */
export function parseCron(expression: string, where: string): CronFields {
  const expanded = NICKNAMES[expression.trim().toLowerCase()] ?? expression.trim();
  const parts = expanded.split(/\s+/);
  if (parts.length !== 5 && parts.length !== 6) {
    throw new UsageError(
      `${where}: schedule ${JSON.stringify(expression)} has ${parts.length} fields; expected 5 or 6`,
    );
  }
  const [secondsText = "0", minute = "", hour = "", day = "", month = "", weekday = ""] =
    parts.length === 6 ? parts : ["0", ...parts];
  const field = (text: string, min: number, max: number, names?: string[], offset = 0) =>
    expandField(text, min, max, names, offset, `${where}: schedule ${JSON.stringify(expression)}`);
  const weekdays = [...new Set(field(weekday, 0, 7, DAY_NAMES).map((value) => value % 7))].sort(
    (a, b) => a - b,
  );
  return {
    seconds: field(secondsText, 0, 59),
    minutes: field(minute, 0, 59),
    hours: field(hour, 0, 23),
    days: field(day, 1, 31),
    months: field(month, 1, 12, MONTH_NAMES, 1),
    weekdays,
    daysRestricted: !isWildcard(day),
    weekdaysRestricted: !isWildcard(weekday),
    text: [minute, hour, day, month, weekday].map((text) => (text === "?" ? "*" : text)),
    secondsText,
  };
}

function isWildcard(text: string): boolean {
  return text === "*" || text === "?";
}

function expandField(
  text: string,
  min: number,
  max: number,
  names: string[] | undefined,
  nameOffset: number,
  where: string,
): number[] {
  const values = new Set<number>();
  const value = (token: string): number => {
    const index = names?.indexOf(token.toUpperCase()) ?? -1;
    if (index >= 0) return index + nameOffset;
    if (!/^\d+$/.test(token)) {
      throw new UsageError(
        `${where}: "${token}" cannot be translated for crontab/systemd (croner extensions L, W, # are not)`,
        {
          hint: "use `backdrill schedule`, which supports every croner expression",
        },
      );
    }
    const number = Number(token);
    if (number < min || number > max) throw new UsageError(`${where}: ${number} is outside ${min}-${max}`);
    return number;
  };
  for (const part of text.split(",")) {
    const [range = "", stepText] = part.split("/");
    const step = stepText === undefined ? 1 : Number(stepText);
    if (!Number.isInteger(step) || step < 1) throw new UsageError(`${where}: bad step in "${part}"`);
    let from: number;
    let to: number;
    if (isWildcard(range)) {
      from = min;
      to = max;
    } else if (range.includes("-")) {
      const [a = "", b = ""] = range.split("-");
      from = value(a);
      to = value(b);
      if (to < from) throw new UsageError(`${where}: range "${range}" runs backwards`);
    } else {
      from = value(range);
      to = stepText === undefined ? from : max;
    }
    for (let n = from; n <= to; n += step) values.add(n);
  }
  return [...values].sort((a, b) => a - b);
}

/** `OnCalendar=` values whose union fires exactly when the cron expression does. */
export function onCalendar(expression: string, timezone: string | undefined, where: string): string[] {
  const fields = parseCron(expression, where);
  const zone = timezone === undefined ? "" : ` ${timezone}`;
  const list = (values: number[], min: number, max: number) =>
    values.length === max - min + 1 ? "*" : values.map((v) => String(v).padStart(2, "0")).join(",");
  const time = `${list(fields.hours, 0, 23)}:${list(fields.minutes, 0, 59)}:${list(fields.seconds, 0, 59)}`;
  const month = list(fields.months, 1, 12);
  const withDays = (days: string, weekdays: number[] | null) =>
    `${weekdays === null ? "" : `${weekdays.map((d) => SYSTEMD_DAYS[d]).join(",")} `}*-${month}-${days} ${time}${zone}`;
  const days = list(fields.days, 1, 31);
  if (fields.daysRestricted && fields.weekdaysRestricted) {
    // cron: day-of-month OR day-of-week; systemd: AND. Two lines = the union.
    return [withDays(days, null), withDays("*", fields.weekdays)];
  }
  return [withDays(days, fields.weekdaysRestricted ? fields.weekdays : null)];
}

function shellQuote(value: string): string {
  return /^[A-Za-z0-9_./=:@-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}

function commands(task: ScheduledTask, options: UnitOptions): string[][] {
  const base = [options.bin, "--config-dir", options.configDir];
  if (task.kind === "drill") return [[...base, "drill", task.name]];
  const backup = [[...base, "backup", task.name]];
  return options.prune ? [...backup, [...base, "prune", task.name]] : backup;
}

export function unitBaseName(task: ScheduledTask): string {
  return `backdrill-${task.kind}-${task.name}`;
}

/** The crontab text for every task. */
export function renderCrontab(
  tasks: ScheduledTask[],
  options: UnitOptions,
  daemons: DaemonTask[] = [],
): string {
  const system = options.crontabFlavour === "system";
  const lines = [
    "# backdrill schedules, generated by `backdrill cron`; regenerate after changing policies or drills.",
    "# Exit codes: 0 ok, 1 failed, 2 config error, 3 another run holds the job's lock.",
    "SHELL=/bin/sh",
    "PATH=/usr/local/bin:/usr/bin:/bin",
  ];
  let zone: string | undefined;
  // Zone-less entries first: once CRON_TZ is set, it cannot portably be unset again.
  const ordered = [...tasks].sort((a, b) => (a.timezone ?? "").localeCompare(b.timezone ?? ""));
  for (const task of ordered) {
    const where = `${task.file} (${task.kind} ${task.name})`;
    const fields = parseCron(task.schedule, where);
    if (fields.seconds.length !== 1 || fields.seconds[0] !== 0) {
      throw new UsageError(
        `${where}: schedule ${JSON.stringify(task.schedule)} needs a seconds field other than 0, which crontab cannot express`,
        { hint: "use `backdrill cron --format systemd` or `backdrill schedule`" },
      );
    }
    if (task.timezone !== zone) {
      lines.push(
        "# CRON_TZ is honoured by cronie; Debian's cron ignores it (there the host's zone applies)",
        `CRON_TZ=${task.timezone ?? ""}`,
      );
      zone = task.timezone;
    }
    const load = `set -a && . ${shellQuote(options.envFile)} && set +a && `;
    const run = commands(task, options)
      .map((argv) => argv.map(shellQuote).join(" "))
      .join(" && ");
    lines.push(`# ${task.kind} ${task.name} (${task.file})`);
    lines.push(`${fields.text.join(" ")}${system ? ` ${options.user}` : ""} ${load}${run}`);
  }
  // Every minute means the same in every zone: CRON_TZ above does not matter to these lines.
  lines.push(...daemonCrontabLines(daemons, options));
  return `${lines.join("\n")}\n`;
}

/**
 * A long-running process a job needs beside its schedule: `wal ship <job> <spool>` for a
 * postgres-base job with a `spool` (the kind's archive `feeder`). systemd gets a service that
 * restarts it; crontab, which cannot supervise, runs `--once` every minute instead (a drain that
 * overlaps the previous one is harmless: pushing the same file twice is "already archived").
 */
export interface DaemonTask {
  job: string;
  /** After `backdrill --config-dir DIR`. */
  args: string[];
  what: string;
  /** Config file the job comes from, for messages. */
  file: string;
}

/** Every job's feeder (see DaemonTask). */
export function daemonTasks(config: Config): DaemonTask[] {
  const daemons: DaemonTask[] = [];
  for (const loaded of config.jobs.values()) {
    const feeder = kindOf(loaded.job.kind).archive?.feeder(loaded.job) ?? null;
    if (feeder !== null) daemons.push({ job: loaded.job.name, ...feeder, file: loaded.file });
  }
  return daemons;
}

export function daemonUnitName(daemon: DaemonTask): string {
  return `backdrill-${daemon.args.slice(0, 2).join("-")}-${daemon.job}`;
}

/** A restarting service per daemon (enable with `systemctl enable --now`). */
export function renderDaemonUnits(daemons: DaemonTask[], options: UnitOptions): UnitFile[] {
  return daemons.map((daemon) => ({
    name: `${daemonUnitName(daemon)}.service`,
    content: [
      "[Unit]",
      `Description=backdrill ${daemon.what}`,
      "Wants=network-online.target",
      "After=network-online.target",
      "",
      "[Service]",
      "Type=simple",
      `User=${options.user}`,
      `EnvironmentFile=-${options.envFile}`,
      `ExecStart=${[options.bin, "--config-dir", options.configDir, ...daemon.args].map(shellQuote).join(" ")}`,
      "# Never stop for good: PostgreSQL counts spooled WAL as archived, so the spool must drain.",
      "Restart=always",
      "RestartSec=5s",
      "UMask=0077",
      "# On stop, the push in progress is abandoned; its file stays in the spool for the next start.",
      "KillSignal=SIGTERM",
      "TimeoutStopSec=1min",
      "",
      "[Install]",
      "WantedBy=multi-user.target",
      "",
    ].join("\n"),
  }));
}

/** crontab lines for the daemons: a `--once` drain every minute. */
function daemonCrontabLines(daemons: DaemonTask[], options: UnitOptions): string[] {
  const system = options.crontabFlavour === "system";
  const lines: string[] = [];
  for (const daemon of daemons) {
    const argv = [options.bin, "--config-dir", options.configDir, ...daemon.args, "--once"];
    lines.push(
      `# ${daemon.what} (${daemon.file}): crontab cannot keep it running, so it drains once a minute; ` +
        "`--format systemd` writes a service that ships continuously",
      `* * * * *${system ? ` ${options.user}` : ""} set -a && . ${shellQuote(options.envFile)} && set +a && ${argv.map(shellQuote).join(" ")}`,
    );
  }
  return lines;
}

export interface UnitFile {
  name: string;
  content: string;
}

/** A service + timer pair per task. */
export function renderSystemdUnits(tasks: ScheduledTask[], options: UnitOptions): UnitFile[] {
  const files: UnitFile[] = [];
  for (const task of tasks) {
    const where = `${task.file} (${task.kind} ${task.name})`;
    const calendars = onCalendar(task.schedule, task.timezone, where);
    const fields = parseCron(task.schedule, where);
    const everyMinuteOrFiner = fields.seconds.length !== 1 || fields.seconds[0] !== 0;
    const name = unitBaseName(task);
    const what = task.kind === "backup" ? `backup of job ${task.name}` : `restore drill ${task.name}`;
    const service = [
      "[Unit]",
      `Description=backdrill ${what}`,
      "Wants=network-online.target",
      "After=network-online.target",
      "",
      "[Service]",
      "Type=oneshot",
      `User=${options.user}`,
      `EnvironmentFile=-${options.envFile}`,
      ...commands(task, options).map((argv) => `ExecStart=${argv.map(shellQuote).join(" ")}`),
      "UMask=0077",
      "# On stop, backdrill aborts the current step and removes partial artifacts (no half snapshot).",
      "KillSignal=SIGTERM",
      "TimeoutStopSec=5min",
      "Nice=10",
      "IOSchedulingClass=best-effort",
      "IOSchedulingPriority=7",
      "",
    ].join("\n");
    const timer = [
      "[Unit]",
      `Description=Schedule of the backdrill ${what} (${task.schedule}${task.timezone ? ` ${task.timezone}` : ""})`,
      "",
      "[Timer]",
      ...calendars.map((calendar) => `OnCalendar=${calendar}`),
      "# A run missed while the host was down happens at the next boot.",
      "Persistent=true",
      ...(everyMinuteOrFiner ? ["AccuracySec=1s"] : []),
      `Unit=${name}.service`,
      "",
      "[Install]",
      "WantedBy=timers.target",
      "",
    ].join("\n");
    files.push({ name: `${name}.service`, content: service }, { name: `${name}.timer`, content: timer });
  }
  return files;
}
