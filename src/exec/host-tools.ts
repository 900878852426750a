/**
 * The commands backdrill and its scripts run on the host, and the Debian package that provides
 * each: one table for the product's "not found" errors (process.ts) and for the scripts that
 * install what is missing (test/support/host-tools.ts, scripts/host-tools.ts, .ci/run).
 *
 * The product never installs anything: on a production host a missing tool is the operator's
 * decision, so it only names the package. Only the development scripts install, and only as root
 * on Debian/Ubuntu.
 */
import path from "node:path";

export interface HostTool {
  /** The Debian package named in messages: `apt-get install <package>` gives the command. */
  package: string;
  /**
   * Packages an installer tries, first one apt has a candidate for wins (default: `package`).
   * `docker` lives in docker-cli on trixie and later (docker.io only recommends it, and the
   * installer skips recommends), but in docker.io itself on bookworm.
   */
  install?: readonly string[];
}

export const HOST_TOOLS: Readonly<Record<string, HostTool>> = {
  docker: { package: "docker.io", install: ["docker-cli", "docker.io"] },
  dockerd: { package: "docker.io" },
  rsync: { package: "rsync" },
  ssh: { package: "openssh-client" },
  "ssh-keygen": { package: "openssh-client" },
  age: { package: "age" },
  "age-keygen": { package: "age" },
  restic: { package: "restic" },
  chromium: { package: "chromium" },
  debootstrap: { package: "debootstrap" },
  tar: { package: "tar" },
  mkfifo: { package: "coreutils" },
  umount: { package: "mount" },
  cc: { package: "gcc" },
  pg_dump: { package: "postgresql-client" },
  pg_dumpall: { package: "postgresql-client" },
  pg_restore: { package: "postgresql-client" },
  pg_basebackup: { package: "postgresql-client" },
  pg_amcheck: { package: "postgresql-client" },
  psql: { package: "postgresql-client" },
};

/**
 * The Debian package providing `command` (a name or a path), or undefined when the table does not
 * know it. A PostgreSQL tool under /usr/lib/postgresql/<major>/bin (a job's `tools.binDir`) needs
 * that major's client package: the unversioned one installs the distribution's default major.
 */
export function packageFor(command: string): string | undefined {
  const name = path.basename(command);
  const tool = HOST_TOOLS[name];
  if (tool === undefined) return undefined;
  const major = /\/postgresql\/(\d+)\/bin\/[^/]+$/.exec(command)?.[1];
  return tool.package === "postgresql-client" && major !== undefined
    ? `postgresql-client-${major}`
    : tool.package;
}

/** Packages an installer should try for `command`, in order of preference. */
export function installCandidates(command: string): readonly string[] {
  const tool = HOST_TOOLS[path.basename(command)];
  const own = packageFor(command);
  if (tool === undefined || own === undefined) return [];
  return tool.install ?? [own];
}

/**
 * The one line for a command that is not there, e.g.
 * `rsync not found: install the Debian package rsync (apt-get install rsync)`.
 */
export function missingToolMessage(command: string): string {
  const pkg = packageFor(command);
  if (pkg === undefined) {
    return command.includes("/")
      ? `${command} not found: install it, or fix the path`
      : `${command} not found on PATH: install it, or fix PATH`;
  }
  return `${command} not found: install the Debian package ${pkg} (apt-get install ${pkg})`;
}
