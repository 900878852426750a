/** Turns a job's `destination` (and `--to` targets) into a Place and the root path in it. */
import type { FilesJob } from "./job-schema.js";
import { parseDestination } from "./job-schema.js";
import { UsageError } from "../../errors.js";
import { LocalPlace, RemotePlace, type Place } from "./place.js";

export interface Located {
  place: Place;
  root: string;
  remote: boolean;
}

export function locateDestination(
  job: Pick<FilesJob, "name" | "destination" | "sshKeyFile" | "knownHostsFile" | "sshPort">,
): Located {
  const destination = parseDestination(job.destination);
  if (destination === undefined) {
    throw new UsageError(
      `job ${job.name}: destination ${job.destination} is neither /abs/path nor user@host:/abs/path`,
    );
  }
  const root = trimSlash(destination.path);
  if (destination.type === "local") return { place: new LocalPlace(), root, remote: false };
  if (job.sshKeyFile === undefined) {
    throw new UsageError(
      `job ${job.name}: sshKeyFile: a remote destination needs the SSH private key to log in with`,
    );
  }
  return {
    place: new RemotePlace({
      user: destination.user,
      host: destination.host,
      port: job.sshPort,
      keyFile: job.sshKeyFile,
      knownHostsFile: job.knownHostsFile,
    }),
    root,
    remote: true,
  };
}

/** `/abs/path` or `user@host:/abs/path` given on the command line (`restore --to`). */
export function locateTarget(
  to: string,
  ssh: { keyFile: string | undefined; knownHostsFile: string | undefined; port: number | undefined },
): Located {
  const destination = parseDestination(to);
  if (destination === undefined) {
    throw new UsageError(
      `--to: expected an absolute path (/srv/restore) or user@host:/absolute/path, got "${to}"`,
    );
  }
  const root = trimSlash(destination.path);
  if (root === "") throw new UsageError("--to: refusing to restore into / ; name a directory");
  if (destination.type === "local") return { place: new LocalPlace(), root, remote: false };
  if (ssh.keyFile === undefined) {
    throw new UsageError(`--to ${to}: a remote target needs an SSH key`, {
      hint: "pass --ssh-key FILE (or set BACKDRILL_RESTORE_SSH_KEY); --known-hosts FILE pins the host key",
    });
  }
  return {
    place: new RemotePlace({
      user: destination.user,
      host: destination.host,
      port: ssh.port,
      keyFile: ssh.keyFile,
      knownHostsFile: ssh.knownHostsFile,
    }),
    root,
    remote: true,
  };
}

function trimSlash(path: string): string {
  return path.length > 1 ? path.replace(/\/+$/, "") : path;
}
