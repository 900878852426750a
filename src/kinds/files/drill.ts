/**
 * Drill of a `files` snapshot, as in a disaster: a throwaway SSH + rsync container from the
 * target's image stands in for the replacement server; the snapshot directory is rsynced into it
 * over SSH with a key pair made for this drill, then every file (or `checks.sample` random ones)
 * is hashed INSIDE the container with sha256sum and compared with the manifest in the
 * repository.
 *
 * Container contract (the backdrill sshd-rsync image): sshd on port 22, rsync, GNU find and
 * coreutils; the entrypoint authorises SSH_AUTHORIZED_KEY for SSH_USER (it cannot be root: the
 * entrypoint's usermod fails on a user with running processes). The drill then authorises the
 * same key for root through docker exec and logs in as root, so owners, groups and modes are
 * restored exactly (--numeric-ids) and checked too, and no file is unreadable to the checker.
 */
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import type { FilesJob } from "./job-schema.js";
import { requireDrillImage, startDrillContainer } from "../../docker/container.js";
import { createDrillVolume } from "../../docker/volume.js";
import { OperationError } from "../../errors.js";
import { run } from "../../exec/process.js";
import type { CheckResult, DrillContext, DrillPhases } from "../contract.js";
import { locateDestination } from "./destination.js";
import { checkFilesFacts, type FilesFacts } from "./facts.js";
import type { FilesTarget } from "./target.js";
import { RemotePlace } from "./place.js";
import { joinRemote } from "./snapshot-dirs.js";
import { copyTree, privateTempDir } from "./transfer.js";
import type { FileEntry } from "./entries.js";
import { readManifestEntries, verifyTree, type VerifyDetails } from "./verify.js";

const SSH_PORT = 22;
const DRILL_USER = "root";
const ENTRYPOINT_USER = "backdrill";
const RESTORE_DIR = "/restore";

export function drillFiles(context: DrillContext<FilesJob, FilesTarget, FilesFacts>): DrillPhases {
  const { job, target, scope, signal, log, facts } = context;
  const image = requireDrillImage(target, job.name, "backdrill/sshd-rsync");
  checkFilesFacts(facts, context.artifacts, job);
  const source = locateDestination({ ...job, destination: facts.destination });
  const snapshotDir = joinRemote(source.root, facts.snapshotDir);
  let drillHost: RemotePlace | undefined;
  let expected: FileEntry[] = [];
  let verified: { checks: CheckResult[]; details: VerifyDetails } | undefined;
  // In a stack drill the tree is restored into a volume, which the smoke test then mounts
  // read-only: an application reads its files from a mounted volume, not over SSH. It is a named
  // volume on the drill's engine, never a path of the drill host: the tree itself always travels
  // over rsync/ssh, so the drill works the same on a remote engine (docker/engine.ts).
  let volume: string | null = null;

  return {
    async sandbox() {
      // Checked before any container starts: a pruned snapshot directory fails the drill at once.
      if ((await source.place.list(snapshotDir, signal)) === null) {
        throw new OperationError(
          `job ${job.name}: snapshot directory ${source.place.describe(snapshotDir)} is gone (pruned or moved?)`,
        );
      }
      const keys = await privateTempDir(scope, "backdrill-files-drill-");
      const keyFile = path.join(keys, "id_ed25519");
      await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "backdrill-drill", "-f", keyFile], {
        signal,
        description: "ssh-keygen for the drill",
      });
      const publicKey = (await readFile(`${keyFile}.pub`, "utf8")).trim();
      if (context.stack !== undefined) {
        volume = await createDrillVolume(scope, context.stack.labels, `files drill of ${job.name}`);
      }
      const mounted = volume;
      const container = await startDrillContainer({
        image,
        what: `files drill host for ${job.name}`,
        scope,
        signal,
        pull: target.pull ?? "never",
        env: { SSH_USER: ENTRYPOINT_USER, SSH_AUTHORIZED_KEY: publicKey },
        ports: [SSH_PORT],
        network: context.stack,
        ...(mounted === null
          ? {}
          : {
              configure: (builder) =>
                builder.withBindMounts([{ source: mounted, target: RESTORE_DIR, mode: "rw" }]),
            }),
        wait: (wait) => wait.forAll([wait.forLogMessage(/Server listening/), wait.forListeningPorts()]),
      });
      const host = container.getHost();
      const port = container.getMappedPort(SSH_PORT);
      // The host key comes from the container itself (docker exec), not from the network: strict
      // checking stays on even for a throwaway host.
      const hostKey = await container.exec(["cat", "/etc/ssh/ssh_host_ed25519_key.pub"]);
      const [keyType, keyData] = hostKey.output.trim().split(/\s+/);
      if (hostKey.exitCode !== 0 || keyType === undefined || keyData === undefined) {
        throw new OperationError(`drill container ${image} has no /etc/ssh/ssh_host_ed25519_key.pub`);
      }
      const authorised = await container.exec([
        "sh",
        "-c",
        'install -d -m 700 /root/.ssh && printf "%s\\n" "$1" > /root/.ssh/authorized_keys && chmod 600 /root/.ssh/authorized_keys',
        "authorise",
        publicKey,
      ]);
      if (authorised.exitCode !== 0) {
        throw new OperationError(
          `cannot authorise the drill key for root in ${image}: ${authorised.output.trim()}`,
        );
      }
      const knownHostsFile = path.join(keys, "known_hosts");
      await writeFile(knownHostsFile, `[${host}]:${port} ${keyType} ${keyData}\n`, { mode: 0o600 });
      drillHost = new RemotePlace({ user: DRILL_USER, host, port, keyFile, knownHostsFile });
      await drillHost.mkdirp(RESTORE_DIR, signal);
    },

    async restore() {
      if (drillHost === undefined) throw new OperationError("files drill: restore before sandbox");
      expected = await readManifestEntries(context.artifacts, facts.manifestArtifact, signal);
      log.info({ from: source.place.describe(snapshotDir), image }, "files drill: restoring over rsync/ssh");
      await copyTree(
        { place: source.place, dir: snapshotDir, remote: source.remote },
        { place: drillHost, dir: RESTORE_DIR, remote: true },
        { scope, signal, log },
      );
      return [];
    },

    async checks() {
      if (drillHost === undefined) throw new OperationError("files drill: checks before sandbox");
      verified = await verifyTree(drillHost, RESTORE_DIR, expected, {
        sample: target.checks?.sample,
        owners: true,
        signal,
      });
      return verified.checks;
    },

    stack() {
      if (drillHost === undefined) throw new OperationError("files drill: stack before sandbox");
      return { port: SSH_PORT, env: { USER: DRILL_USER, PATH: RESTORE_DIR }, files: [], volume };
    },

    details: () => ({ snapshotDir: facts.snapshotDir, ...verified?.details }),
  };
}
