import { mkdir, mkdtemp, readdir, rm, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createLogger } from "../log/logger.js";
import { LocalBackend } from "../storage/local/local-backend.js";
import { abortDeadBackupUploads, abortDeadPruneUploads, LOCK_UPLOAD_MAX_AGE_MS } from "./upload-cleanup.js";

// A SIGKILL between a lock generation's temporary file and its link leaves `.tmp-*` in
// locks/<job>/; nothing else ever removes it (CI once found one after prune in the kill trials).
describe("cleanup of killed writes under locks/<job>/", () => {
  let root = "";
  const log = createLogger({ level: "silent" });

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), "backdrill-cleanup-"));
    await mkdir(join(root, "locks", "job"), { recursive: true });
    await mkdir(join(root, "locks", "other"), { recursive: true });
    await writeFile(join(root, "locks", "job", "1.json"), "{}");
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  async function temp(dir: string, name: string, ageMs: number): Promise<void> {
    const path = join(root, "locks", dir, name);
    await writeFile(path, "partial");
    const when = new Date(Date.now() - ageMs);
    await utimes(path, when, when);
  }

  for (const [what, run] of [
    ["prune", (backend: LocalBackend) => abortDeadPruneUploads(backend, "job", { log })],
    ["backup", (backend: LocalBackend) => abortDeadBackupUploads(backend, "job", { log })],
  ] as const) {
    it(`${what} removes dead ones, keeps a write that may still be live and other jobs' files`, async () => {
      await temp("job", ".tmp-dead", LOCK_UPLOAD_MAX_AGE_MS + 10_000);
      await temp("job", ".tmp-live", 0);
      await temp("other", ".tmp-dead", LOCK_UPLOAD_MAX_AGE_MS + 10_000);
      const backend = new LocalBackend({ path: root });
      expect(await run(backend)).toBe(1);
      expect((await readdir(join(root, "locks", "job"))).sort()).toEqual([".tmp-live", "1.json"]);
      expect(await readdir(join(root, "locks", "other"))).toEqual([".tmp-dead"]);
    });
  }
});
