import type { RegisteredCommand } from "../command.js";
import { backupCommand } from "./backup.js";
import { copyCommand } from "./copy.js";
import { drillCommand } from "./drill.js";
import { keysCommand } from "./keys.js";
import { cronCommand } from "./cron.js";
import { doctorCommand } from "./doctor.js";
import { pruneCommand } from "./prune.js";
import { reportCommand } from "./report.js";
import { restoreCommand } from "./restore.js";
import { scheduleCommand } from "./schedule.js";
import { snapshotsCommand } from "./snapshots.js";
import { statusCommand } from "./status.js";
import { validateCommand } from "./validate.js";
import { verifyCommand } from "./verify.js";
import { walCommand } from "./wal.js";

/** In the order `--help` lists them (the README's CLI section). */
export const commands: RegisteredCommand[] = [
  validateCommand,
  backupCommand,
  snapshotsCommand,
  drillCommand,
  restoreCommand,
  verifyCommand,
  pruneCommand,
  copyCommand,
  statusCommand,
  reportCommand,
  scheduleCommand,
  cronCommand,
  walCommand,
  keysCommand,
  doctorCommand,
];
