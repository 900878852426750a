/**
 * The files engine with a remote destination (user@host:/path over SSH, strict known_hosts):
 * snapshots on an sshd-rsync container, hard links there, hashes computed on that host, a drill
 * that stages the remote snapshot and checks it in a second container, a restore to a remote
 * target, and an unknown host key refused.
 */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runJobBackup } from "../../../src/runner/backup.js";
import type { DrillTarget } from "../../../src/config/drill-schema.js";
import type { FilesJob } from "../../../src/kinds/files/job-schema.js";
import { generateIdentity } from "../../../src/crypto/keys.js";
import { runDrillTarget } from "../../../src/runner/drill-target.js";
import { filesKind } from "../../../src/kinds/files/index.js";
import { createLogger } from "../../../src/log/logger.js";
import type { SnapshotManifest } from "../../../src/repository/manifest.js";
import { Repository } from "../../../src/repository/repository.js";
import { LocalBackend } from "../../../src/storage/local/local-backend.js";
import { SshdRsyncContainer, type StartedSshdRsyncContainer } from "../../support/containers/sshd-rsync.js";
import { makeFileTree, mutateFileTree, type FileTree } from "../../support/file-tree.js";
import { sshdImage } from "../../support/images.js";
import { restoreWith } from "../../support/restore.js";

process.env.TESTCONTAINERS_RYUK_DISABLED = "true";

const log = createLogger({ level: process.env.BACKDRILL_LOG_LEVEL ?? "warn", pretty: false });
const REMOTE_ROOT = "/home/backup/task-files";
let host: StartedSshdRsyncContainer;
let work: string;
let repository: Repository;
let keys: { identity: string; recipient: string };
let tree: FileTree;

function job(overrides: Partial<FilesJob> = {}): FilesJob {
  return {
    name: "task-files-remote",
    kind: "files",
    policy: "nightly",
    source: tree.root,
    destination: host.remote(REMOTE_ROOT),
    sshKeyFile: host.privateKeyPath,
    knownHostsFile: host.knownHostsPath,
    sshPort: host.port,
    exclude: [],
    ...overrides,
  } as FilesJob;
}

const context = () => ({ log, signal: new AbortController().signal, env: {}, configDir: process.cwd() });
const backup = (j: FilesJob) =>
  runJobBackup({ job: j, kind: filesKind, repository, recipients: [keys.recipient] }, context());

async function remote(command: string): Promise<string> {
  const result = await host.exec(["sh", "-c", command]);
  if (result.exitCode !== 0) throw new Error(`${command}: ${result.output}`);
  return result.output.trim();
}

beforeAll(async () => {
  host = await new SshdRsyncContainer().withSshUser("backup").start();
  work = await mkdtemp(path.join(os.tmpdir(), "backdrill-files-remote-"));
  tree = await makeFileTree(path.join(work, "source"), { smallFiles: 500 });
  // A file changed less than 1 s before a backup's rsync starts is recorded as unsettled and
  // copied again (not linked) by the next backup (source-changes.ts); the tree must be older
  // than that for the hard-link and hashed-file counts below.
  await new Promise((resolve) => setTimeout(resolve, 1_200));
  repository = new Repository(new LocalBackend({ path: path.join(work, "repo") }));
  keys = await generateIdentity();
}, 120_000);

afterAll(async () => {
  await repository?.backend.close();
  if (work !== undefined) await rm(work, { recursive: true, force: true });
  await host?.stop();
});

describe("files engine, remote destination over SSH", () => {
  let second: SnapshotManifest;

  it("snapshots to user@host:/path with hard links and remote hashing", async () => {
    const first = await backup(job());
    expect(first.result).toMatchObject({ ok: true });
    await mutateFileTree(tree);
    const again = await backup(job());
    expect(again.result).toMatchObject({ ok: true });
    second = again.manifest as SnapshotManifest;
    const a = `${REMOTE_ROOT}/${first.manifest?.id}`;
    const b = `${REMOTE_ROOT}/${second.id}`;
    const file = tree.special.privateFile;
    expect(await remote(`stat -c %i '${a}/${file}'`)).toBe(await remote(`stat -c %i '${b}/${file}'`));
    expect(second.meta.hashedFiles).toBe(5); // 2 added + 3 changed; the rest came from the cache
    expect(await remote(`ls -A ${REMOTE_ROOT} | grep -c partial || true`)).toBe("0");
  });

  it("drills from the remote snapshot into a throwaway container", async () => {
    const target = { job: "task-files-remote", snapshot: "latest", image: sshdImage() } as DrillTarget;
    const report = await runDrillTarget(
      {
        job: job(),
        target,
        kind: filesKind,
        repository,
        snapshot: "latest",
        identities: [keys.identity],
        rtoSeconds: null,
      },
      context(),
    );
    expect(report.checks.filter((c) => !c.ok)).toEqual([]);
    expect(report.ok).toBe(true);
  });

  it("restores to a remote target and verifies there", async () => {
    const to = host.remote("/home/backup/restored");
    await restoreWith({
      kind: filesKind,
      job: job(),
      repository,
      identity: keys.identity,
      snapshot: second.id,
      to,
      flags: {
        "ssh-key": host.privateKeyPath,
        "known-hosts": host.knownHostsPath,
        "ssh-port": String(host.port),
      },
      log,
    });
    expect(await remote(`cat '/home/backup/restored/${tree.special.unicode[2]}' | sha256sum`)).toContain(
      (await import("node:crypto"))
        .createHash("sha256")
        .update(await readFile(path.join(tree.root, tree.special.unicode[2] as string)))
        .digest("hex"),
    );
  });

  it("refuses a host whose key is not in known_hosts", async () => {
    const empty = path.join(work, "empty_known_hosts");
    await writeFile(empty, "", { mode: 0o600 });
    const { result } = await backup(job({ knownHostsFile: empty }));
    expect(result.ok).toBe(false);
    expect(result.error).toMatch(/Host key verification failed/);
  });
});
