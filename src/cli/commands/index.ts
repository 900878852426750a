/**
 * Every CLI command, in the order `--help` lists them (the README's CLI section): its usage and
 * one-line description here, its options and implementation in its own module, loaded only when
 * that command runs. A start then pays for one command's imports, not for all of them
 * (`backdrill --version` loads none; docs/architecture.md, "CLI start-up").
 */
import type { RegisteredCommand } from "../command.js";

export interface CommandEntry {
  /** yargs usage: the name, then its positionals (`backup [jobs..]`). */
  usage: string;
  describe: string;
  /** Loads the command's module: its options (builder) and what it runs. */
  load(): Promise<RegisteredCommand>;
}

export const commands: CommandEntry[] = [
  {
    usage: "validate",
    describe: "check all config (every problem at once, exit 2) and print what would run",
    load: async () => (await import("./validate.js")).validateCommand,
  },
  {
    usage: "backup [jobs..]",
    describe: "run backups now (each job: artifacts encrypted and stored, then the manifest)",
    load: async () => (await import("./backup.js")).backupCommand,
  },
  {
    usage: "snapshots [job]",
    describe: "list committed snapshots, oldest first",
    load: async () => (await import("./snapshots.js")).snapshotsCommand,
  },
  {
    usage: "drill [drills..]",
    describe: "restore into throwaway containers, check, time against the RTO, and write reports",
    load: async () => (await import("./drill.js")).drillCommand,
  },
  {
    usage: "restore <job>",
    describe: "disaster recovery: restore a snapshot of <job> to --to",
    load: async () => (await import("./restore.js")).restoreCommand,
  },
  {
    usage: "verify [job]",
    describe:
      "repository integrity: every artifact present with its recorded size and sha256; WAL archives complete from the oldest base backup on",
    load: async () => (await import("./verify.js")).verifyCommand,
  },
  {
    usage: "prune [job]",
    describe:
      "apply retention (keepLast/Hourly/Daily/Weekly/Monthly/Yearly), remove leftovers, reconcile S3 lifecycle rules",
    load: async () => (await import("./prune.js")).pruneCommand,
  },
  {
    usage: "copy <job>",
    describe:
      "copy a job's snapshots, WAL and drill history into its policy's copies (incremental, resumable, hash-checked)",
    load: async () => (await import("./copy.js")).copyCommand,
  },
  {
    usage: "status",
    describe: "newest good snapshot per job vs RPO, last drill result and RTO margin (exit 1 when not ok)",
    load: async () => (await import("./status.js")).statusCommand,
  },
  {
    usage: "report",
    describe:
      "the history of backups and drills per job as one self-contained HTML page (charts, RPO, failures)",
    load: async () => (await import("./report.js")).reportCommand,
  },
  {
    usage: "schedule",
    describe:
      "long-running scheduler: every job on its policy's schedule, every drill on its own (SIGTERM stops cleanly)",
    load: async () => (await import("./schedule.js")).scheduleCommand,
  },
  {
    usage: "cron",
    describe:
      "print crontab lines, or systemd service + timer units, for every scheduled job and drill (and a wal ship service per postgres-base job with a spool)",
    load: async () => (await import("./cron.js")).cronCommand,
  },
  {
    usage: "wal <action> <job> [args..]",
    describe: "PostgreSQL archive_command / restore_command (push, fetch) and spool drainer (ship)",
    load: async () => (await import("./wal.js")).walCommand,
  },
  {
    usage: "keys <action>",
    describe:
      "manage keys: `keys generate` makes an age identity (private, 0600) and prints its recipient; `keys signing-keygen --out FILE` makes the backup host's signing key (0600) and prints its public key",
    load: async () => (await import("./keys.js")).keysCommand,
  },
  {
    usage: "doctor [job..]",
    describe:
      "preflight: config, secrets, repositories, bucket versioning/lifecycle/lock, servers, archiving health, Docker (exit 1 on any FAIL)",
    load: async () => (await import("./doctor.js")).doctorCommand,
  },
];
