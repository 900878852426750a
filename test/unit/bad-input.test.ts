/**
 * Bad-input corpus, CLI half (issue 9): invocations an operator gets wrong, each of which must
 * end in exit 2 with exactly one line on stderr that names the offending argument, file or job
 * and says what to do, with no stack trace and nothing on stdout. Runs in-process, no Docker.
 *
 * The config half is test/fixtures/config/invalid/ (one directory per mistake), run through the
 * loader by src/config/invalid-corpus.test.ts and through `backdrill validate` by
 * test/unit/cli.test.ts.
 *
 * Not a conflict, on purpose: `restore --dry-run --force` prints the plan a forced restore would
 * follow (which databases it would drop), so it is accepted.
 */
import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateIdentity } from "../../src/crypto/keys.js";
import { runCli } from "../support/run-cli.js";

interface Case {
  /** What the operator got wrong. */
  name: string;
  /** argv; $DIR is the temp dir, $CFG the valid config dir, $NOSCHED a config without schedules. */
  args: string[];
  /** What the one stderr line must say: the offending thing and what to do. */
  says: RegExp[];
  /** Do not add --config-dir $CFG (the case sets its own, or needs none). */
  noConfig?: boolean;
  env?: Record<string, string | undefined>;
}

const CASES: Case[] = [
  // Unknown commands and options, with suggestions.
  { name: "misspelt command", args: ["bakup"], says: [/bakup/, /did you mean "backup"\?/] },
  { name: "singular command", args: ["snapshot"], says: [/snapshot/, /did you mean "snapshots"\?/] },
  { name: "unknown command", args: ["frobnicate"], says: [/Unknown argument: frobnicate/, /--help/] },
  {
    name: "misspelt option",
    args: ["backup", "--al"],
    says: [/Unknown argument: al/, /did you mean --all\?/],
  },
  {
    name: "misspelt dashed option",
    args: ["restore", "db", "--to", "/x", "--dry-rn"],
    says: [/Unknown argument: dry-rn;/, /did you mean --dry-run\?/],
  },
  {
    name: "misspelt global option",
    args: ["--log-levl", "debug", "status"],
    says: [/log-levl/, /did you mean --log-level\?/],
  },
  { name: "extra positional", args: ["status", "extra"], says: [/Unknown argument: extra/, /--help/] },
  // Missing arguments and bad values for choices.
  { name: "no command", args: [], says: [/name a command/, /--help/], noConfig: true },
  { name: "restore without a job", args: ["restore"], says: [/Not enough non-option arguments/, /--help/] },
  { name: "restore without --to", args: ["restore", "db"], says: [/Missing required argument: to/] },
  {
    name: "restore with an empty --to",
    args: ["restore", "db", "--to", ""],
    says: [/--to: give the restore target/],
  },
  {
    name: "keys with an unknown action",
    args: ["keys", "rotate"],
    says: [/Given: "rotate", Choices: "generate"/],
  },
  {
    name: "bad --log-level",
    args: ["--log-level", "loud", "status"],
    says: [/log-level, Given: "loud"/, /"debug"/],
  },
  {
    name: "bad cron --format",
    args: ["cron", "--format", "nope"],
    says: [/format, Given: "nope"/, /"systemd"/],
  },
  { name: "wal push without a path", args: ["wal", "push", "wal"], says: [/wal push takes <path>/] },
  // Conflicting or incomplete flag sets.
  {
    name: "job names and --all",
    args: ["backup", "db", "--all"],
    says: [/give job names or --all, not both/],
  },
  { name: "backup of nothing", args: ["backup"], says: [/name at least one job, or pass --all/] },
  { name: "drill names and --all", args: ["drill", "monthly", "--all"], says: [/give drill names or --all/] },
  { name: "drill of nothing", args: ["drill"], says: [/name at least one drill, or pass --all/] },
  {
    name: "verify --read-data without an identity",
    args: ["verify", "--read-data"],
    says: [/--read-data needs --identity FILE/, /BACKDRILL_IDENTITY_FILE/],
    env: { BACKDRILL_IDENTITY_FILE: undefined },
  },
  {
    name: "verify --identity without --read-data",
    args: ["verify", "--identity", "$DIR/id.txt"],
    says: [/--identity is only used with --read-data/],
  },
  {
    name: "cron --out without --format systemd",
    args: ["cron", "--out", "$DIR/units"],
    says: [/--out is for --format systemd/],
  },
  {
    name: "restore --at on a kind without point-in-time recovery",
    args: ["restore", "db", "--to", "postgres://u@127.0.0.1:1/x", "--at", "2026-01-01T00:00:00Z"],
    says: [/--at is for postgres-base jobs/, /job db is a postgres-dump job/, /--snapshot ID/],
  },
  {
    name: "restore --database on a files job",
    args: ["restore", "files", "--to", "/srv/restore", "--database", "task"],
    says: [/--database is for postgres-dump jobs/, /remove --database/],
  },
  {
    name: "restore --escrow-identity on a postgres-dump job",
    args: ["restore", "db", "--to", "postgres://u@127.0.0.1:1/x", "--escrow-identity", "$DIR/id.txt"],
    says: [/--escrow-identity is for symfony-secrets jobs/],
  },
  {
    name: "restore --ssh-port on a postgres-dump job",
    args: ["restore", "db", "--to", "postgres://u@127.0.0.1:1/x", "--ssh-port", "22"],
    says: [/--ssh-port is for files jobs/],
  },
  // Bad values.
  {
    name: "restore --at that is no date",
    args: ["restore", "wal", "--to", "/srv/pgdata", "--at", "2026-13-45"],
    says: [/--at "2026-13-45" is not a point in time/, /2026-11-28T02:15:00Z/],
  },
  {
    name: "restore --at without a time zone",
    args: ["restore", "wal", "--to", "/srv/pgdata", "--at", "2026-01-01T02:15:00"],
    says: [/--at "2026-01-01T02:15:00"/, /with its zone/],
  },
  {
    name: "restore --ssh-port that is no port",
    args: ["restore", "files", "--to", "/srv/restore", "--ssh-port", "22x"],
    says: [/--ssh-port: expected a port number 1-65535, got "22x"/],
  },
  {
    name: "restore --snapshot that is no snapshot id",
    args: ["restore", "files", "--to", "/srv/restore", "--snapshot", "yesterday"],
    says: [/--snapshot "yesterday" is not a snapshot id/, /backdrill snapshots files/],
  },
  {
    name: "wal ship --interval that is no duration",
    args: ["wal", "ship", "wal", "/var/spool/wal", "--interval", "5x"],
    says: [/--interval: expected a duration like 90s/, /got "5x"/],
  },
  {
    name: "doctor --timeout below zero",
    args: ["doctor", "--timeout", "-1"],
    says: [/--timeout must be a positive number of seconds, got -1/],
  },
  // Relative paths where absolute ones are needed.
  {
    name: "files restore to a relative path",
    args: ["restore", "files", "--to", "restore/here"],
    says: [/--to "restore\/here"/, /absolute path/],
  },
  {
    name: "postgres-base restore to a relative data directory",
    args: ["restore", "wal", "--to", "pgdata"],
    says: [/--to "pgdata"/, /absolute path of the new data directory for wal/],
  },
  {
    name: "cron --bin not absolute",
    args: ["cron", "--bin", "backdrill"],
    says: [/--bin must be an absolute path/],
  },
  // Identity files that cannot be used (tests run as root: permission bits would not stop reads).
  {
    name: "identity file that does not exist",
    args: ["restore", "db", "--to", "postgres://u@127.0.0.1:1/x", "--identity", "$DIR/missing.txt"],
    says: [/cannot read identity file .*missing\.txt: no such file/],
  },
  {
    name: "identity file that is a directory",
    args: ["restore", "db", "--to", "postgres://u@127.0.0.1:1/x", "--identity", "$DIR"],
    says: [/cannot read identity file .*: is a directory/],
  },
  {
    name: "identity file with garbage",
    args: ["restore", "db", "--to", "postgres://u@127.0.0.1:1/x", "--identity", "$DIR/garbage.txt"],
    says: [/identity file .*garbage\.txt, line 1: not an age identity/, /AGE-SECRET-KEY-1/],
  },
  {
    name: "identity file holding a public recipient",
    args: ["restore", "db", "--to", "postgres://u@127.0.0.1:1/x", "--identity", "$DIR/public.txt"],
    says: [
      /identity file .*public\.txt, line 1: this is a public recipient \(age1…\), not a secret identity/,
    ],
  },
  {
    name: "empty identity file",
    args: ["verify", "--read-data", "--identity", "$DIR/empty.txt"],
    says: [
      /identity file .*empty\.txt contains no identities/,
      /hint: expected lines starting AGE-SECRET-KEY-1/,
    ],
  },
  {
    name: "restore without any identity",
    args: ["restore", "db", "--to", "postgres://u@127.0.0.1:1/x"],
    says: [/restore needs the age identity/, /--identity FILE/, /BACKDRILL_IDENTITY_FILE/],
    env: { BACKDRILL_IDENTITY_FILE: undefined },
  },
  // Unknown names.
  {
    name: "unknown job",
    args: ["backup", "dbb"],
    says: [/unknown job "dbb"; did you mean "db"\?/, /configured jobs/],
  },
  {
    name: "unknown job in snapshots",
    args: ["snapshots", "fils"],
    says: [/unknown job "fils"; did you mean "files"\?/],
  },
  {
    name: "unknown job in prune",
    args: ["prune", "nosuch"],
    says: [/unknown job "nosuch"/, /configured jobs: db, files, wal/],
  },
  {
    name: "unknown job in doctor",
    args: ["doctor", "wall"],
    says: [/unknown job "wall"; did you mean "wal"\?/],
  },
  {
    name: "wal on a job of another kind",
    args: ["wal", "push", "db", "/tmp/000000010000000000000001"],
    says: [/job db is a postgres-dump job; wal push\/fetch\/ship work on postgres-base jobs only/],
  },
  {
    name: "unknown drill",
    args: ["drill", "montly"],
    says: [/unknown drill "montly"; did you mean "monthly"\?/],
  },
  {
    name: "drill --job of an unknown job",
    args: ["drill", "monthly", "--job", "dbb"],
    says: [/unknown job "dbb"/],
  },
  {
    name: "drill --job of a job the drill does not cover",
    args: ["drill", "monthly", "--job", "files"],
    says: [/--job files: not a target of drill monthly/, /targets: db/],
  },
  // keys generate --out targets.
  {
    name: "keys --out in a directory that does not exist",
    args: ["keys", "generate", "--out", "$DIR/no/such/dir/id.txt"],
    says: [/--out .*no\/such\/dir\/id\.txt: its directory does not exist/, /create it first/],
  },
  {
    name: "keys --out naming a directory",
    args: ["keys", "generate", "--out", "$DIR"],
    says: [/--out .* is a directory/, /backdrill-identity\.txt/],
  },
  {
    name: "keys --out over an existing identity",
    args: ["keys", "generate", "--out", "$DIR/id.txt"],
    says: [/refusing to overwrite an identity/, /hint: choose another path/],
  },
  { name: "keys --out empty", args: ["keys", "generate", "--out", ""], says: [/--out needs the path/] },
  // Schedules the scheduler or cron cannot use.
  {
    name: "cron of a seconds schedule crontab cannot express",
    args: ["cron", "--config-dir", "$SECONDS"],
    says: [/policies\/p\.yaml .* schedule "\*\/30 \* \* \* \* \*" needs a seconds field/, /--format systemd/],
    noConfig: true,
  },
  {
    name: "schedule with nothing to schedule",
    args: ["schedule", "--config-dir", "$NOSCHED"],
    says: [/nothing to schedule: no policy or drill has a schedule/],
    noConfig: true,
  },
  {
    name: "cron with nothing to schedule",
    args: ["cron", "--config-dir", "$NOSCHED"],
    says: [/nothing to schedule/],
    noConfig: true,
  },
  // Config directories that are not there.
  {
    name: "config dir that does not exist",
    args: ["validate", "--config-dir", "$DIR/nope"],
    says: [/config directory .*\/nope does not exist/, /--config-dir/, /BACKDRILL_CONFIG_DIR/],
    noConfig: true,
  },
  {
    name: "config dir that is a file",
    args: ["status", "--config-dir", "$DIR/id.txt"],
    says: [/config directory .*id\.txt is not a directory/],
    noConfig: true,
  },
  {
    name: "BACKDRILL_CONFIG_DIR that does not exist",
    args: ["backup", "--all"],
    says: [/config directory \/nonexistent\/backdrill does not exist/],
    noConfig: true,
    env: { BACKDRILL_CONFIG_DIR: "/nonexistent/backdrill" },
  },
];

let dir: string;
const paths: Record<string, string> = {};

function expand(arg: string): string {
  return arg.replace(/\$(DIR|CFG|NOSCHED|SECONDS)/g, (_match, name: string) => paths[name] ?? "");
}

async function writeConfig(root: string, files: Record<string, string>): Promise<void> {
  for (const [name, text] of Object.entries(files)) {
    await mkdir(join(root, name, ".."), { recursive: true });
    await writeFile(join(root, name), text);
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "backdrill-bad-input-"));
  const keys = await generateIdentity();
  paths.DIR = dir;
  paths.CFG = join(dir, "config");
  paths.NOSCHED = join(dir, "config-no-schedule");
  paths.SECONDS = join(dir, "config-seconds");
  const policy = (schedule: string) =>
    `name: p\nrepository: { type: local, path: ${join(dir, "repo")} }\nencryption: { recipients: [${keys.recipient}] }\nretention: { keepLast: 3 }\nrpo: 26h\n${schedule}`;
  const jobs = {
    "jobs/db.yaml":
      "name: db\nkind: postgres-dump\npolicy: p\nconnection: { host: 127.0.0.1, user: backup, passwordEnv: BAD_INPUT_PW }\ntools: { binDir: /usr/lib/postgresql/17/bin }\n",
    "jobs/wal.yaml":
      "name: wal\nkind: postgres-base\npolicy: p\nconnection: { host: 127.0.0.1, user: backup, passwordEnv: BAD_INPUT_PW }\ntools: { binDir: /usr/lib/postgresql/17/bin }\n",
    "jobs/files.yaml": `name: files\nkind: files\npolicy: p\nsource: ${join(dir, "source")}\ndestination: ${join(dir, "snapshots")}\n`,
  };
  await writeConfig(paths.CFG, {
    "policies/p.yaml": policy('schedule: "15 2 * * *"\n'),
    ...jobs,
    "drills/monthly.yaml": `name: monthly\nidentityFile: ${join(dir, "id.txt")}\ntargets:\n  - { job: db, image: "pgvector/pgvector:pg17" }\n`,
  });
  await writeConfig(paths.NOSCHED, { "policies/p.yaml": policy(""), ...jobs });
  await writeConfig(paths.SECONDS, { "policies/p.yaml": policy('schedule: "*/30 * * * * *"\n'), ...jobs });
  await writeFile(join(dir, "id.txt"), `${keys.identity}\n`, { mode: 0o600 });
  await writeFile(join(dir, "garbage.txt"), "hello\nnot a key at all\n", { mode: 0o600 });
  await writeFile(join(dir, "public.txt"), `${keys.recipient}\n`, { mode: 0o600 });
  await writeFile(join(dir, "empty.txt"), "", { mode: 0o600 });
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("bad CLI input: exit 2, one actionable line, no stack trace", () => {
  it("has at least 30 invocations", () => {
    expect(CASES.length).toBeGreaterThanOrEqual(30);
    expect(new Set(CASES.map((c) => c.name)).size).toBe(CASES.length);
  });

  it.each(CASES)(
    "$name",
    async (testCase) => {
      const args = testCase.args.map(expand);
      const argv = testCase.noConfig === true ? args : [...args, "--config-dir", paths.CFG ?? ""];
      const before = await readdir(dir);
      const result = await runCli(argv, { BAD_INPUT_PW: "bad-input-pw", ...testCase.env });
      const stderr = result.stderr.trim();
      expect(result.code, stderr).toBe(2);
      expect(stderr.split("\n"), stderr).toHaveLength(1);
      expect(stderr).toMatch(/^backdrill: /);
      for (const pattern of testCase.says) expect(stderr).toMatch(pattern);
      expect(stderr).not.toMatch(/\s+at .*:\d+:\d+/);
      expect(stderr).not.toContain("bad-input-pw");
      expect(result.stdout).toBe("");
      // A usage error changes nothing: no repository, no identity file, no unit files appear.
      expect(await readdir(dir)).toEqual(before);
    },
    // The first argv that names no command loads every command module (vitest transforms each on
    // first import): seconds on a loaded 2-core box. A timeout would leave that run writing to the
    // shared stderr capture of the next case.
    30_000,
  );
});
