/**
 * How backdrill talks to an SSH host (a remote destination, a restore target, a drill container):
 * ssh options, the same options as one string for `rsync -e`, and POSIX shell quoting for the
 * commands run there.
 *
 * Host keys are always verified (`StrictHostKeyChecking=yes`, never `accept-new`): a backup that
 * silently trusts a new key sends the company's files to whoever answers. With `knownHostsFile`
 * that file alone is used; without it, ssh's own (~/.ssh/known_hosts of the user backdrill runs
 * as). An unknown key fails with ssh's "Host key verification failed", and the hint says how to
 * pin it.
 */
import { UsageError } from "../../errors.js";

export interface SshEndpoint {
  user: string | undefined;
  /** Host name or address; IPv6 without brackets. */
  host: string;
  port: number | undefined;
  /** Private key to log in with. */
  keyFile: string;
  /** known_hosts to verify the host key against; undefined: ssh's default files. */
  knownHostsFile: string | undefined;
}

/** `user@host` (or `host`) for ssh; IPv6 brackets removed, ssh does not want them. */
export function sshLogin(endpoint: SshEndpoint): string {
  const host = endpoint.host.replace(/^\[(.*)\]$/, "$1");
  // parseDestination already refuses these; a second line because ssh and rsync would take a
  // leading `-` for an option (rsync's -e command cannot carry a `--`).
  if (host.startsWith("-") || endpoint.user?.startsWith("-") === true) {
    throw new UsageError(
      `ssh login ${JSON.stringify(`${endpoint.user ?? ""}@${host}`)} starts with "-"; refusing`,
    );
  }
  return endpoint.user === undefined ? host : `${endpoint.user}@${host}`;
}

/** rsync's spelling of a remote path: `user@host:/path` (IPv6 hosts in brackets). */
export function rsyncRemote(endpoint: SshEndpoint, path: string): string {
  sshLogin(endpoint);
  const bare = endpoint.host.replace(/^\[(.*)\]$/, "$1");
  const host = bare.includes(":") ? `[${bare}]` : bare;
  return `${endpoint.user === undefined ? "" : `${endpoint.user}@`}${host}:${path}`;
}

/** Options for every ssh invocation: key only, batch mode, strict host key checking, timeouts. */
export function sshOptions(endpoint: SshEndpoint): string[] {
  const options = [
    "-i",
    endpoint.keyFile,
    "-o",
    "IdentitiesOnly=yes",
    "-o",
    "BatchMode=yes",
    "-o",
    "StrictHostKeyChecking=yes",
    "-o",
    "ConnectTimeout=15",
    // A dead network fails within ~2 minutes instead of hanging a nightly run forever.
    "-o",
    "ServerAliveInterval=30",
    "-o",
    "ServerAliveCountMax=4",
    "-o",
    "LogLevel=ERROR",
  ];
  if (endpoint.port !== undefined) options.push("-p", String(endpoint.port));
  if (endpoint.knownHostsFile !== undefined) {
    options.push(
      "-o",
      `UserKnownHostsFile=${endpoint.knownHostsFile}`,
      "-o",
      "GlobalKnownHostsFile=/dev/null",
    );
  }
  return options;
}

/**
 * The ssh command line as one string for `rsync -e`. rsync splits it on spaces and honours single
 * and double quotes (but not backslashes), so each argument with a space or quote is quoted.
 */
export function rsyncShellCommand(endpoint: SshEndpoint): string {
  return ["ssh", ...sshOptions(endpoint)].map(quoteForRsync).join(" ");
}

function quoteForRsync(arg: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(arg)) return arg;
  if (!arg.includes("'")) return `'${arg}'`;
  if (!arg.includes('"')) return `"${arg}"`;
  throw new UsageError(`cannot pass ${arg} to rsync -e: it contains both kinds of quotes; rename the file`);
}

/** Quotes one word for a POSIX shell (the remote side of ssh always runs a shell). */
export function shellQuote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * The hint printed when ssh cannot verify or reach the host. When the connection itself failed
 * (refused, timed out, unknown host), keys and known_hosts are not the problem: say so.
 */
export function sshHint(endpoint: SshEndpoint, error?: unknown): string {
  const where = endpoint.port === undefined ? endpoint.host : `[${endpoint.host}]:${endpoint.port}`;
  const message = error instanceof Error ? error.message : String(error ?? "");
  if (
    /Connection refused|Connection timed out|No route to host|Network is unreachable|Could not resolve hostname/i.test(
      message,
    )
  ) {
    return `is sshd running on ${endpoint.host} port ${endpoint.port ?? 22} and reachable from this host? Check the host, sshPort and any firewall`;
  }
  return (
    `check that ${sshLogin(endpoint)} accepts the key ${endpoint.keyFile}, and that the host key of ${where} is in ` +
    `${endpoint.knownHostsFile ?? "~/.ssh/known_hosts"} (verify it out of band, then e.g. ` +
    `\`ssh-keyscan ${endpoint.port === undefined ? "" : `-p ${endpoint.port} `}${endpoint.host} >> KNOWN_HOSTS\`)`
  );
}
