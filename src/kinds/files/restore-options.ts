/**
 * `backdrill restore <files job> --to /path | user@host:/path [--ssh-key F] [--known-hosts F]
 * [--ssh-port N]`: the flags, their environment defaults, and their checks. Pure.
 */
import { UsageError } from "../../errors.js";
import type { RestoreFlag, RestoreSpec } from "../contract.js";
import { parseDestination, type FilesJob } from "./job-schema.js";

export interface FilesRestoreOptions {
  sshKey: string | undefined;
  knownHosts: string | undefined;
  sshPort: number | undefined;
}

const flags: readonly RestoreFlag[] = [
  {
    name: "ssh-key",
    type: "string",
    describe: "private key for a user@host:/path target (default $BACKDRILL_RESTORE_SSH_KEY)",
  },
  {
    name: "known-hosts",
    type: "string",
    describe: "known_hosts file for the target host (default $BACKDRILL_RESTORE_KNOWN_HOSTS)",
  },
  { name: "ssh-port", type: "string", describe: "SSH port of the target host" },
];

function nonEmpty(value: string | boolean | undefined): string | undefined {
  return typeof value === "string" && value !== "" ? value : undefined;
}

export const filesRestore: RestoreSpec<FilesJob, FilesRestoreOptions> = {
  to: "a directory (/srv/restore) or user@host:/absolute/path",
  flags,
  options({ to, flags: values, env }) {
    if (parseDestination(to) === undefined) {
      throw new UsageError(
        `--to ${JSON.stringify(to)}: a files restore target must be an absolute path (/srv/restore) or user@host:/absolute/path`,
      );
    }
    // A string flag, so a typo is reported as typed ("22x"), not as yargs' NaN.
    const portText = nonEmpty(values["ssh-port"]) ?? nonEmpty(env.BACKDRILL_RESTORE_SSH_PORT);
    let sshPort: number | undefined;
    if (portText !== undefined) {
      sshPort = Number(portText);
      if (!/^\d{1,5}$/.test(portText) || sshPort < 1 || sshPort > 65535) {
        throw new UsageError(`--ssh-port: expected a port number 1-65535, got ${JSON.stringify(portText)}`);
      }
    }
    return {
      sshKey: nonEmpty(values["ssh-key"]) ?? nonEmpty(env.BACKDRILL_RESTORE_SSH_KEY),
      knownHosts: nonEmpty(values["known-hosts"]) ?? nonEmpty(env.BACKDRILL_RESTORE_KNOWN_HOSTS),
      sshPort,
    };
  },
};
