/**
 * The archivers the wal-archiving bench compares, each set up as its documentation says for a
 * PostgreSQL server in a container with the archive on the host:
 *
 *   - backdrill spool: README's exact archive_command (cp into a spool bind-mounted from the host,
 *     both fsyncs) and `backdrill wal ship JOB SPOOL` running on the host, as README's "Spool"
 *     setup for a containerised server. backdrill runs as the bundled CLI (test/support/bundle-cli.ts,
 *     what `npm run build` ships minus tsc's per-file output) with the host's node.
 *   - backdrill direct: archive_command = `backdrill wal push JOB %p` inside the container, with
 *     backdrill "installed" there as on a plain host: the host's node binary, the bundle, its
 *     node_modules and the native addon bind-mounted read-only at the same paths (the image has no
 *     node), a wrapper on PATH; the repository is the same host directory.
 *   - pgBackRest: `archive-push` with archive-async=y, process-max=2, the repository on the host
 *     directory, repo cipher aes-256-cbc (both encrypt), compress-type as given.
 *   - cp: `test ! -f /archive/%f && cp %p /archive/%f`, PostgreSQL's documentation example: no
 *     fsync, no compression, no encryption; the ceiling.
 *
 * Each returns where its stored segments appear on the host (for ArchiveWatch) and a stop().
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chown, mkdir, readFile, realpath, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { StartedPostgresContainer } from "../../test/support/containers/postgres.js";

export type ArchiverKind = "ship" | "push" | "pgbackrest" | "cp";

export interface ArchiverSpec {
  kind: ArchiverKind;
  /** backdrill's job `compression`, or pgBackRest's compress-type. */
  compression: string;
  /** Row label. */
  label: string;
}

export interface BindMount {
  source: string;
  target: string;
  mode: "ro" | "rw";
}

/** What the bench needs to know before the server starts. */
export interface ArchiverPlan {
  spec: ArchiverSpec;
  archiveCommand: string;
  mounts: BindMount[];
  /** Host directory the stored segments appear in, and how many directory levels down. */
  watchDir: string;
  watchDepth: number;
  /** After the server is up, before archiving is switched on. */
  prepare(server: StartedPostgresContainer): Promise<void>;
  /** CPU seconds (user + system) the archiver's own long-running process used so far; null: none. */
  cpuSeconds(): Promise<number | null>;
  /** Stops what prepare started; the archiver's own peak RSS when it is a process of ours. */
  stop(): Promise<{ peakRssMiB: number | null }>;
}

/** The image's postgres user (docker/postgres): owns what the server writes on the host. */
const POSTGRES_UID = 100;
const POSTGRES_GID = 102;
export const JOB = "bench-wal";
const STANZA = "bench";
const PGBACKREST_CONF = "/etc/pgbackrest/bench.conf";
/** USER_HZ: Linux reports process CPU times in 1/100 s on every architecture we run on. */
const CLOCK_TICKS = 100;

export interface ArchiverContext {
  /** This archiver's own scratch directory. */
  root: string;
  repoRoot: string;
  /** The CLI bundle (node ESM file) under repoRoot/dist. */
  cliBundle: string;
  recipient: string;
  log(message: string): void;
}

async function writeConfig(ctx: ArchiverContext, compression: string, spool: string | null): Promise<string> {
  const configDir = join(ctx.root, "config");
  const repository = join(ctx.root, "repository");
  await mkdir(join(configDir, "policies"), { recursive: true, mode: 0o700 });
  await mkdir(join(configDir, "jobs"), { recursive: true, mode: 0o700 });
  await writeFile(
    join(configDir, "policies", "bench.yaml"),
    `name: bench\nrepository: { type: local, path: ${repository} }\n` +
      `encryption: { recipients: [${ctx.recipient}] }\nretention: { keepLast: 5 }\nrpo: 1h\n`,
    { mode: 0o600 },
  );
  await writeFile(
    join(configDir, "jobs", `${JOB}.yaml`),
    `name: ${JOB}\nkind: postgres-base\npolicy: bench\n` +
      `connection: { host: 127.0.0.1, user: test, passwordEnv: BENCH_WAL_PASSWORD }\n` +
      `tools: { binDir: /usr/lib/postgresql/17/bin }\ncompression: ${compression}\n` +
      (spool === null ? "" : `spool: ${spool}\n`),
    { mode: 0o600 },
  );
  return configDir;
}

/** utime + stime of a live process of ours, in seconds (/proc/PID/stat fields 14 and 15). */
async function cpuOf(pid: number | undefined): Promise<number | null> {
  if (pid === undefined) return null;
  const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => "");
  // The command name (field 2) is in parentheses and may hold spaces: count from after it.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]);
  return Number.isFinite(ticks) ? ticks / CLOCK_TICKS : null;
}

/** Peak RSS of a live process of ours (VmHWM), in MiB. */
async function peakRss(pid: number | undefined): Promise<number | null> {
  if (pid === undefined) return null;
  const status = await readFile(`/proc/${pid}/status`, "utf8").catch(() => "");
  const kib = /^VmHWM:\s+(\d+) kB$/m.exec(status)?.[1];
  return kib === undefined ? null : Number(kib) / 1024;
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
  await exited;
  clearTimeout(timer);
}

function shipPlan(ctx: ArchiverContext, spec: ArchiverSpec): ArchiverPlan {
  const spool = join(ctx.root, "spool");
  let ship: ChildProcess | undefined;
  let stderr = "";
  return {
    spec,
    archiveCommand:
      "test ! -f /spool/%f && cp %p /spool/.%f.tmp && sync /spool/.%f.tmp && mv /spool/.%f.tmp /spool/%f && sync /spool",
    mounts: [{ source: spool, target: "/spool", mode: "rw" }],
    watchDir: join(ctx.root, "repository", "wal", JOB),
    watchDepth: 0,
    async prepare() {
      const configDir = await writeConfig(ctx, spec.compression, spool);
      ship = spawn(
        process.execPath,
        [ctx.cliBundle, "--config-dir", configDir, "wal", "ship", JOB, spool, "--interval", "1s"],
        { cwd: ctx.repoRoot, stdio: ["ignore", "ignore", "pipe"], env: process.env },
      );
      ship.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
        stderr = (stderr + chunk).slice(-4000);
      });
      ship.once("exit", (code, signal) => {
        if (signal === null && code !== 0) ctx.log(`wal ship exited with ${code}: ${stderr.trim()}`);
      });
    },
    cpuSeconds: () => cpuOf(ship?.pid),
    async stop() {
      const rss = await peakRss(ship?.pid);
      if (ship !== undefined) await stopChild(ship);
      return { peakRssMiB: rss };
    },
  };
}

function pushPlan(ctx: ArchiverContext, spec: ArchiverSpec): ArchiverPlan {
  const configDir = join(ctx.root, "config");
  return {
    spec,
    archiveCommand: `backdrill --config-dir ${configDir} wal push ${JOB} %p`,
    mounts: [],
    watchDir: join(ctx.root, "repository", "wal", JOB),
    watchDepth: 0,
    async prepare() {
      // Mounts are filled before the server starts (see planArchiver); nothing to start here.
    },
    cpuSeconds: async () => null,
    async stop() {
      return { peakRssMiB: null };
    },
  };
}

function pgbackrestPlan(ctx: ArchiverContext, spec: ArchiverSpec): ArchiverPlan {
  const repository = join(ctx.root, "pgbackrest-repo");
  return {
    spec,
    archiveCommand: `pgbackrest --config=${PGBACKREST_CONF} --stanza=${STANZA} archive-push %p`,
    mounts: [{ source: repository, target: "/pgbackrest", mode: "rw" }],
    watchDir: join(repository, "archive", STANZA),
    // archive/<stanza>/<pg version>-<id>/<timeline+log id>/<segment>-<sha1>.<ext>
    watchDepth: 2,
    async prepare(server) {
      const conf = [
        "[global]",
        "repo1-path=/pgbackrest",
        "repo1-cipher-type=aes-256-cbc",
        `repo1-cipher-pass=${randomBytes(24).toString("base64url")}`,
        "archive-async=y",
        "spool-path=/var/spool/pgbackrest",
        "process-max=2",
        `compress-type=${spec.compression}`,
        "log-level-console=warn",
        "",
        `[${STANZA}]`,
        "pg1-path=/var/lib/postgresql/data",
        "pg1-user=test",
        "",
      ].join("\n");
      await server.copyContentToContainer([{ content: conf, target: PGBACKREST_CONF, mode: 0o640 }]);
      await exec(server, ["chown", `root:${POSTGRES_GID}`, PGBACKREST_CONF], "root");
      await exec(server, [
        "pgbackrest",
        `--config=${PGBACKREST_CONF}`,
        `--stanza=${STANZA}`,
        "stanza-create",
      ]);
    },
    cpuSeconds: async () => null,
    async stop() {
      return { peakRssMiB: null };
    },
  };
}

function cpPlan(ctx: ArchiverContext, spec: ArchiverSpec): ArchiverPlan {
  const target = join(ctx.root, "archive");
  return {
    spec,
    archiveCommand: "test ! -f /archive/%f && cp %p /archive/%f",
    mounts: [{ source: target, target: "/archive", mode: "rw" }],
    watchDir: target,
    watchDepth: 0,
    async prepare() {},
    cpuSeconds: async () => null,
    async stop() {
      return { peakRssMiB: null };
    },
  };
}

async function exec(server: StartedPostgresContainer, command: string[], user = "postgres"): Promise<string> {
  const result = await server.exec(command, { user });
  if (result.exitCode !== 0) {
    throw new Error(
      `${command.join(" ")} (in the server's container) exited ${result.exitCode}: ${result.output.trim()}`,
    );
  }
  return result.stdout;
}

/** Creates the archiver's host directories (owned by the server's uid) and its plan. */
export async function planArchiver(ctx: ArchiverContext, spec: ArchiverSpec): Promise<ArchiverPlan> {
  await mkdir(ctx.root, { recursive: true, mode: 0o700 });
  // The container's postgres user writes into these; the bench (root) reads them.
  const owned = async (dir: string) => {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await chown(dir, POSTGRES_UID, POSTGRES_GID);
  };
  switch (spec.kind) {
    case "ship": {
      const plan = shipPlan(ctx, spec);
      await owned(join(ctx.root, "spool"));
      // wal ship (root) reads and removes the server's files; the spool itself stays 0700.
      return plan;
    }
    case "push": {
      const plan = pushPlan(ctx, spec);
      await writeConfig(ctx, spec.compression, null);
      const repository = join(ctx.root, "repository");
      await owned(repository);
      await writeFile(
        join(ctx.root, "backdrill-on-path"),
        `#!/bin/sh\nexec /usr/bin/node ${ctx.cliBundle} "$@"\n`,
        { mode: 0o755 },
      );
      // The server runs the CLI as postgres: it reads the config and writes the repository.
      for (const path of [
        join(ctx.root, "config"),
        join(ctx.root, "config", "policies"),
        join(ctx.root, "config", "jobs"),
      ])
        await chown(path, POSTGRES_UID, POSTGRES_GID);
      for (const file of ["policies/bench.yaml", `jobs/${JOB}.yaml`])
        await chown(join(ctx.root, "config", file), POSTGRES_UID, POSTGRES_GID);
      const same = async (source: string): Promise<BindMount> => {
        const real = await realpath(source);
        return { source: real, target: real, mode: "ro" };
      };
      plan.mounts.push(
        { source: process.execPath, target: "/usr/bin/node", mode: "ro" },
        { source: join(ctx.root, "backdrill-on-path"), target: "/usr/local/bin/backdrill", mode: "ro" },
        await same(ctx.repoRoot),
        await same(join(ctx.repoRoot, "node_modules")),
        await same(join(ctx.repoRoot, "build", "native")),
        { source: join(ctx.root, "config"), target: join(ctx.root, "config"), mode: "ro" },
        { source: repository, target: repository, mode: "rw" },
      );
      return plan;
    }
    case "pgbackrest":
      await owned(join(ctx.root, "pgbackrest-repo"));
      return pgbackrestPlan(ctx, spec);
    case "cp":
      await owned(join(ctx.root, "archive"));
      return cpPlan(ctx, spec);
  }
}
