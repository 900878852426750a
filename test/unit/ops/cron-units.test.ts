import { execFileSync } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Cron } from "croner";
import { describe, expect, it } from "vitest";
import { UsageError } from "../../../src/errors.js";
import {
  daemonTasks,
  onCalendar,
  renderCrontab,
  renderDaemonUnits,
  renderSystemdUnits,
} from "../../../src/app/cron-units.js";
import { openConfig } from "../../../src/app/config.js";
import { runCli } from "../../support/run-cli.js";
import type { ScheduledTask } from "../../../src/app/scheduler.js";

const options = {
  bin: "/usr/local/bin/backdrill",
  configDir: "/etc/backdrill",
  envFile: "/etc/backdrill/backdrill.env",
  user: "backdrill",
  prune: true,
};
const task = (
  kind: ScheduledTask["kind"],
  name: string,
  schedule: string,
  timezone?: string,
): ScheduledTask => ({
  kind,
  name,
  schedule,
  timezone,
  file: kind === "drill" ? `drills/${name}.yaml` : "policies/nightly.yaml",
});

/** The next `count` elapse times systemd computes for the union of `calendars`, from `base`. */
function systemdNextRuns(calendars: string[], base: Date, count: number): string[] {
  const output = execFileSync(
    "systemd-analyze",
    ["calendar", `--iterations=${count}`, `--base-time=@${Math.floor(base.getTime() / 1000)}`, ...calendars],
    { encoding: "utf8", env: { ...process.env, TZ: "UTC" } },
  );
  const times = [
    ...output.matchAll(/(?:Next elapse|Iter\. #\d+): \w+ (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC/g),
  ].map((match) => `${(match[1] ?? "").replace(" ", "T")}.000Z`);
  return [...new Set(times)].sort().slice(0, count);
}

describe("systemd OnCalendar translation", () => {
  const base = new Date("2026-01-01T00:00:00Z");
  const cases: Array<[string, string | undefined]> = [
    ["15 2 * * *", undefined],
    ["15 2 * * *", "Europe/Moscow"],
    ["0 4 1 * *", "Europe/Moscow"],
    ["*/20 8-17 * * MON-FRI", "UTC"],
    ["30 3 1,15 * SUN", "UTC"], // day-of-month OR day-of-week
    ["0 0 * JAN,JUL 0", undefined],
    ["*/10 * * * * *", undefined], // seconds field
    ["0 30 1 * * 7", "America/New_York"],
    ["@weekly", undefined],
  ];
  it.each(cases)("%s (%s) fires when croner does", (expression, timezone) => {
    const calendars = onCalendar(expression, timezone, "test");
    const expected = new Cron(expression, { timezone: timezone ?? "UTC" })
      .nextRuns(12, base)
      .map((date) => date.toISOString());
    // systemd without a zone uses the host's; pin it to UTC like the croner side.
    const actual = systemdNextRuns(
      timezone === undefined ? calendars.map((c) => `${c} UTC`) : calendars,
      base,
      12,
    );
    expect(actual).toEqual(expected);
  });

  it("gives a readable form for the common case", () => {
    expect(onCalendar("15 2 * * *", "Europe/Moscow", "x")).toEqual(["*-*-* 02:15:00 Europe/Moscow"]);
    expect(onCalendar("30 3 1,15 * SUN", undefined, "x")).toEqual([
      "*-*-01,15 03:30:00",
      "Sun *-*-* 03:30:00",
    ]);
  });

  it("refuses croner extensions it cannot translate, naming the entry", () => {
    expect(() => onCalendar("0 0 L * *", undefined, "policies/nightly.yaml (backup task-db)")).toThrow(
      /policies\/nightly\.yaml \(backup task-db\).*"L" cannot be translated/,
    );
  });
});

describe("renderSystemdUnits", () => {
  it("writes a oneshot service (backup then prune) and a persistent timer per task", () => {
    const files = renderSystemdUnits(
      [task("backup", "task-db", "15 2 * * *", "Europe/Moscow"), task("drill", "monthly", "0 4 1 * *")],
      options,
    );
    expect(files.map((file) => file.name)).toEqual([
      "backdrill-backup-task-db.service",
      "backdrill-backup-task-db.timer",
      "backdrill-drill-monthly.service",
      "backdrill-drill-monthly.timer",
    ]);
    const service = files[0]?.content ?? "";
    expect(service).toContain(
      "Type=oneshot\nUser=backdrill\nEnvironmentFile=-/etc/backdrill/backdrill.env\n",
    );
    expect(service).toContain(
      "ExecStart=/usr/local/bin/backdrill --config-dir /etc/backdrill backup task-db\n" +
        "ExecStart=/usr/local/bin/backdrill --config-dir /etc/backdrill prune task-db\n",
    );
    expect(files[1]?.content).toContain("OnCalendar=*-*-* 02:15:00 Europe/Moscow\n");
    expect(files[1]?.content).toContain("Persistent=true\n");
    expect(files[1]?.content).toContain("Unit=backdrill-backup-task-db.service\n");
    expect(files[2]?.content).toContain(
      "ExecStart=/usr/local/bin/backdrill --config-dir /etc/backdrill drill monthly\n",
    );
    expect(files[2]?.content).not.toContain("prune");
  });
});

describe("renderCrontab", () => {
  it("prints one line per task, backup && prune, secrets from the env file, zone via CRON_TZ", () => {
    const text = renderCrontab(
      [task("backup", "task-db", "15 2 * * *", "Europe/Moscow"), task("backup", "task-files", "0 3 * * *")],
      options,
    );
    const lines = text.split("\n");
    const files = lines.indexOf(
      "0 3 * * * set -a && . /etc/backdrill/backdrill.env && set +a && /usr/local/bin/backdrill --config-dir /etc/backdrill backup task-files && /usr/local/bin/backdrill --config-dir /etc/backdrill prune task-files",
    );
    const zone = lines.indexOf("CRON_TZ=Europe/Moscow");
    expect(files).toBeGreaterThan(0);
    expect(zone).toBeGreaterThan(files); // zone-less entries come before CRON_TZ
    expect(lines[zone + 2]).toMatch(/^15 2 \* \* \* set -a .* backup task-db && .* prune task-db$/);
  });

  it("adds the user column for /etc/cron.d and drops prune on request", () => {
    const text = renderCrontab([task("backup", "task-db", "0 15 2 * * *")], {
      ...options,
      prune: false,
      crontabFlavour: "system",
    });
    expect(text).toContain("\n15 2 * * * backdrill set -a");
    expect(text).not.toContain("prune");
  });

  it("refuses a seconds schedule crontab cannot express (exit 2)", () => {
    expect(() => renderCrontab([task("backup", "task-db", "*/10 * * * * *")], options)).toThrow(UsageError);
  });
});

describe("wal ship of postgres-base jobs with a spool", () => {
  async function configWithSpool(): Promise<string> {
    const dir = await mkdtemp(path.join(os.tmpdir(), "cron-daemons-"));
    await mkdir(path.join(dir, "policies"));
    await mkdir(path.join(dir, "jobs"));
    await writeFile(
      path.join(dir, "policies/test.yaml"),
      "name: test\nrepository: { type: local, path: /var/backups/backdrill }\n" +
        "encryption: { recipients: [age1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqs3290gq] }\n" +
        "retention: { keepLast: 2 }\nrpo: 26h\n",
    );
    const base =
      "kind: postgres-base\npolicy: test\nconnection: { host: db, user: replicator, passwordEnv: PGPASS }\ntools: { binDir: /usr/lib/postgresql/17/bin }\n";
    await writeFile(
      path.join(dir, "jobs/task-wal.yaml"),
      `name: task-wal\n${base}spool: /var/spool/backdrill/task-wal\n`,
    );
    await writeFile(path.join(dir, "jobs/other-wal.yaml"), `name: other-wal\n${base}`);
    return dir;
  }

  it("one restarting service for each job with a spool; crontab drains once a minute", async () => {
    const dir = await configWithSpool();
    try {
      const daemons = daemonTasks(await openConfig(dir));
      expect(daemons).toEqual([
        {
          job: "task-wal",
          args: ["wal", "ship", "task-wal", "/var/spool/backdrill/task-wal"],
          what: "WAL shipping of job task-wal",
          file: "jobs/task-wal.yaml",
        },
      ]);
      const [unit, ...more] = renderDaemonUnits(daemons, options);
      expect(more).toEqual([]);
      expect(unit?.name).toBe("backdrill-wal-ship-task-wal.service");
      expect(unit?.content).toContain(
        "Type=simple\nUser=backdrill\nEnvironmentFile=-/etc/backdrill/backdrill.env\n" +
          "ExecStart=/usr/local/bin/backdrill --config-dir /etc/backdrill wal ship task-wal /var/spool/backdrill/task-wal\n",
      );
      expect(unit?.content).toContain("Restart=always\n");
      expect(unit?.content).toContain("WantedBy=multi-user.target\n");
      const crontab = renderCrontab([], { ...options, crontabFlavour: "system" }, daemons);
      expect(crontab).toContain(
        "\n* * * * * backdrill set -a && . /etc/backdrill/backdrill.env && set +a && " +
          "/usr/local/bin/backdrill --config-dir /etc/backdrill wal ship task-wal /var/spool/backdrill/task-wal --once\n",
      );
      // Through the CLI: no schedule anywhere, yet there is something to run.
      const printed = await runCli(["--config-dir", dir, "cron", "--format", "systemd"]);
      expect(printed.code).toBe(0);
      expect(printed.stdout).toContain("# ---- backdrill-wal-ship-task-wal.service ----");
      expect(printed.stdout).not.toContain("other-wal");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("refuses a relative spool path naming the field (exit 2)", async () => {
    const dir = await configWithSpool();
    try {
      await writeFile(
        path.join(dir, "jobs/task-wal.yaml"),
        "name: task-wal\nkind: postgres-base\npolicy: test\nconnection: { host: db, user: r, passwordEnv: P }\ntools: { binDir: /usr/lib/postgresql/17/bin }\nspool: spool/task-wal\n",
      );
      const result = await runCli(["--config-dir", dir, "validate"]);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(/jobs\/task-wal\.yaml: spool: must be an absolute path/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
