/**
 * `backdrill backup`'s exit code when a job failed because the host lacks a tool (issue 16): 2,
 * like any problem an operator must fix before a re-run can help; 1 as soon as any job failed
 * for another reason.
 */
import { describe, expect, it } from "vitest";
import { backupExitCode, type JobBackupResult } from "../../src/app/backup.js";

const ok: JobBackupResult = { job: "a", ok: true, snapshot: "s", durationMs: 1, bytes: 1 };
const missingTool: JobBackupResult = {
  job: "files",
  ok: false,
  snapshot: null,
  error: "rsync not found: install the Debian package rsync (apt-get install rsync)",
  usage: true,
  durationMs: 1,
  bytes: 0,
};
const failed: JobBackupResult = {
  job: "db",
  ok: false,
  snapshot: null,
  error: "boom",
  durationMs: 1,
  bytes: 0,
};
const locked: JobBackupResult = { ...failed, job: "mq", locked: true };

describe("backupExitCode", () => {
  it.each([
    ["all committed", [ok], 0],
    ["only missing tools", [ok, missingTool], 2],
    ["a missing tool and a locked job", [missingTool, locked], 2],
    ["a missing tool and an operational failure", [missingTool, failed], 1],
    ["only locked", [ok, locked], 3],
  ] as const)("%s", (_name, results, code) => {
    expect(backupExitCode(results)).toBe(code);
  });
});
