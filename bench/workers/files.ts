/**
 * Bench worker for the files engine, in its own process so the peak RSS it reports is ours alone:
 *
 *   node .../files.js backup RECIPIENT SOURCE DESTINATION REPO_DIR   (one runJobBackup)
 *   node .../files.js hash FILE                                      (verification hashing)
 *
 * Prints one JSON line: { seconds, maxRssKiB }.
 */
import { peakRssKiB } from "./peak-rss.js";
import { stat } from "node:fs/promises";
import { runJobBackup } from "../../src/runner/backup.js";
import type { FilesJob } from "../../src/kinds/files/job-schema.js";
import { filesKind } from "../../src/kinds/files/index.js";
import { hashLocalFiles } from "../../src/kinds/files/local-tree.js";
import { createLogger } from "../../src/log/logger.js";
import { Repository } from "../../src/repository/repository.js";
import { LocalBackend } from "../../src/storage/local/local-backend.js";

const log = createLogger({ level: "error", pretty: false });

async function backup(recipient: string, source: string, destination: string, repo: string): Promise<void> {
  const repository = new Repository(new LocalBackend({ path: repo }));
  const job = {
    name: "bench-files",
    kind: "files",
    policy: "bench",
    source,
    destination,
    exclude: [],
  } as FilesJob;
  try {
    const { result } = await runJobBackup(
      { job, kind: filesKind, repository, recipients: [recipient] },
      { log, signal: new AbortController().signal, env: {}, configDir: process.cwd() },
    );
    if (!result.ok) throw new Error(`files backup failed: ${result.error ?? "unknown error"}`);
  } finally {
    await repository.backend.close();
  }
}

async function main(): Promise<void> {
  const [mode, a, b, c, d] = process.argv.slice(2);
  const start = process.hrtime.bigint();
  if (mode === "backup" && a !== undefined && b !== undefined && c !== undefined && d !== undefined) {
    await backup(a, b, c, d);
  } else if (mode === "hash" && a !== undefined) {
    const size = (await stat(a)).size;
    await hashLocalFiles("/", [{ path: a.replace(/^\//, ""), size }]);
  } else {
    throw new Error("usage: files.js backup RECIPIENT SOURCE DESTINATION REPO_DIR | hash FILE");
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  process.stdout.write(`${JSON.stringify({ seconds, maxRssKiB: peakRssKiB() })}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
