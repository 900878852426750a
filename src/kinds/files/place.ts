/**
 * A directory tree somewhere rsync can reach: on this machine, or on an SSH host (a remote
 * destination, an operator's restore target, a drill container). The backup, drill and restore
 * are written once against this interface.
 *
 * On an SSH host every operation is one short shell command over ssh; paths are quoted with
 * `shellQuote`, and scanning and hashing run there (GNU find, coreutils sha256sum), so file
 * content never crosses the network just to be hashed.
 */
import { createReadStream } from "node:fs";
import { copyFile, mkdir, open, readdir, rename, rm } from "node:fs/promises";
import { Readable } from "node:stream";
import { OperationError } from "../../errors.js";
import { run, spawnStream } from "../../exec/process.js";
import { nsFromSecondsText, type EntryType, type ScannedEntry } from "./entries.js";
import { readLocalLines } from "./line-files.js";
import { hashLocalFiles, scanLocalTree, walkLocalTree } from "./local-tree.js";
import { compareTreePaths } from "./tree-order.js";
import {
  rsyncRemote,
  rsyncShellCommand,
  shellQuote,
  sshHint,
  sshLogin,
  sshOptions,
  type SshEndpoint,
} from "./ssh.js";

export interface Place {
  /** For messages: `/srv/backup` or `backup@host:/srv/backup`. */
  describe(path: string): string;
  /** The path as an rsync argument. */
  rsyncPath(path: string): string;
  /** Extra rsync arguments to reach this place (`-e ssh ...`), empty locally. */
  rsyncArgs(): string[];
  /** Names in `dir`, or null when it does not exist. */
  list(dir: string, signal?: AbortSignal): Promise<string[] | null>;
  /** Creates `dir` and its parents; new directories are 0700. */
  mkdirp(dir: string, signal?: AbortSignal): Promise<void>;
  rename(from: string, to: string, signal?: AbortSignal): Promise<void>;
  removeTree(path: string, signal?: AbortSignal): Promise<void>;
  /** Every entry under `dir` (dir itself excluded), unsorted. */
  scan(dir: string, signal?: AbortSignal): Promise<ScannedEntry[]>;
  /** Every entry under `dir` in tree order (tree-order.ts), in batches. */
  walk(dir: string, signal?: AbortSignal): AsyncIterable<readonly ScannedEntry[]>;
  /** A file's lines in batches, or null when it does not exist. */
  readLines(path: string, signal?: AbortSignal): Promise<AsyncIterable<string[]> | null>;
  /** Copies a local file here atomically, mode 0600. */
  putFile(localFile: string, path: string, signal?: AbortSignal): Promise<void>;
  /**
   * Files a backup collects before one `hash` call: small locally (memory stays flat), large
   * remotely, where each call is an ssh round trip.
   */
  readonly hashBatch: number;
  /** sha256 of the given files under `dir`, by relative path. */
  hash(
    dir: string,
    files: ReadonlyArray<{ path: string; size: number }>,
    signal?: AbortSignal,
  ): Promise<Map<string, string>>;
}

function errnoCode(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

export class LocalPlace implements Place {
  readonly hashBatch = 256;
  describe(path: string): string {
    return path;
  }
  rsyncPath(path: string): string {
    return path;
  }
  rsyncArgs(): string[] {
    return [];
  }
  async list(dir: string): Promise<string[] | null> {
    try {
      return await readdir(dir);
    } catch (error) {
      if (errnoCode(error) === "ENOENT") return null;
      throw error;
    }
  }
  async mkdirp(dir: string): Promise<void> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
  }
  async rename(from: string, to: string): Promise<void> {
    await rename(from, to);
  }
  async removeTree(path: string): Promise<void> {
    await rm(path, { recursive: true, force: true });
  }
  async scan(dir: string, signal?: AbortSignal): Promise<ScannedEntry[]> {
    return scanLocalTree(dir, signal);
  }
  walk(dir: string, signal?: AbortSignal): AsyncIterable<readonly ScannedEntry[]> {
    return walkLocalTree(dir, signal);
  }
  async readLines(path: string, signal?: AbortSignal): Promise<AsyncIterable<string[]> | null> {
    // Opened here, so a missing file is null rather than an error in the middle of the merge.
    try {
      await (await open(path, "r")).close();
    } catch (error) {
      if (errnoCode(error) === "ENOENT") return null;
      throw error;
    }
    return readLocalLines(path, signal);
  }
  async putFile(localFile: string, path: string): Promise<void> {
    const temp = `${path}.tmp`;
    await copyFile(localFile, temp);
    try {
      const handle = await open(temp, "r+");
      try {
        await handle.chmod(0o600);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(temp, path);
    } catch (error) {
      await rm(temp, { force: true });
      throw error;
    }
  }
  async hash(
    dir: string,
    files: ReadonlyArray<{ path: string; size: number }>,
    signal?: AbortSignal,
  ): Promise<Map<string, string>> {
    return hashLocalFiles(dir, files, signal === undefined ? {} : { signal });
  }
}

/** Exit code our remote scripts use for "does not exist" (ssh itself uses 255). */
const MISSING = 3;
const FIND_FIELDS = 10;
/** Separate sha256sum streams; on a typical host, disk or one core per stream is the limit. */
const REMOTE_HASH_STREAMS = 2;

export class RemotePlace implements Place {
  readonly hashBatch = 20_000;

  constructor(readonly endpoint: SshEndpoint) {}

  describe(path: string): string {
    return rsyncRemote(this.endpoint, path);
  }
  rsyncPath(path: string): string {
    return rsyncRemote(this.endpoint, path);
  }
  rsyncArgs(): string[] {
    return ["-e", rsyncShellCommand(this.endpoint)];
  }

  /** Runs a shell command on the host; ssh's own failures (exit 255) get the known_hosts hint. */
  async sh(
    command: string,
    what: string,
    options: { signal?: AbortSignal | undefined; input?: string | Buffer; okExitCodes?: number[] } = {},
  ): Promise<{ stdout: string; exitCode: number }> {
    try {
      // `--`: whatever the login looks like, ssh never reads it as an option.
      const result = await run(
        "ssh",
        [...sshOptions(this.endpoint), "--", sshLogin(this.endpoint), command],
        {
          description: `ssh ${sshLogin(this.endpoint)} (${what})`,
          ...(options.signal === undefined ? {} : { signal: options.signal }),
          ...(options.input === undefined ? {} : { input: options.input }),
          okExitCodes: options.okExitCodes ?? [0],
        },
      );
      return { stdout: result.stdout, exitCode: result.exitCode };
    } catch (error) {
      throw new OperationError(error instanceof Error ? error.message : String(error), {
        cause: error,
        hint: sshHint(this.endpoint, error),
      });
    }
  }

  async list(dir: string, signal?: AbortSignal): Promise<string[] | null> {
    const result = await this.sh(
      `cd -- ${shellQuote(dir)} 2>/dev/null || exit ${MISSING}; find . -mindepth 1 -maxdepth 1 -printf '%P\\0'`,
      `list ${dir}`,
      { signal, okExitCodes: [0, MISSING] },
    );
    if (result.exitCode === MISSING) return null;
    return result.stdout.split("\0").filter((name) => name !== "");
  }
  async mkdirp(dir: string, signal?: AbortSignal): Promise<void> {
    await this.sh(`mkdir -p -m 700 -- ${shellQuote(dir)}`, `create ${dir}`, { signal });
  }
  async rename(from: string, to: string, signal?: AbortSignal): Promise<void> {
    await this.sh(`mv -T -- ${shellQuote(from)} ${shellQuote(to)}`, `rename ${from}`, { signal });
  }
  async removeTree(path: string, signal?: AbortSignal): Promise<void> {
    await this.sh(`rm -rf -- ${shellQuote(path)}`, `remove ${path}`, { signal });
  }
  private async readText(path: string, signal?: AbortSignal): Promise<string | null> {
    const result = await this.sh(
      `[ -f ${shellQuote(path)} ] || exit ${MISSING}; cat -- ${shellQuote(path)}`,
      `read ${path}`,
      {
        signal,
        okExitCodes: [0, MISSING],
      },
    );
    return result.exitCode === MISSING ? null : result.stdout;
  }
  async scan(dir: string, signal?: AbortSignal): Promise<ScannedEntry[]> {
    // One NUL-terminated record of 10 fields per entry: names may hold any byte but NUL.
    const result = await this.sh(
      `cd -- ${shellQuote(dir)} && find . -mindepth 1 -printf '%y\\0%D\\0%i\\0%s\\0%m\\0%U\\0%G\\0%T@\\0%l\\0%P\\0'`,
      `list the files under ${dir}`,
      { signal },
    );
    return parseFindOutput(result.stdout);
  }

  // A remote tree arrives as one `find` listing: sorted here, so memory grows with the file count
  // on remote destinations (the local case, the common one, is flat).
  async *walk(dir: string, signal?: AbortSignal): AsyncIterable<readonly ScannedEntry[]> {
    const entries = (await this.scan(dir, signal)).sort((a, b) => compareTreePaths(a.path, b.path));
    for (let i = 0; i < entries.length; i += 1000) yield entries.slice(i, i + 1000);
  }
  async readLines(path: string, signal?: AbortSignal): Promise<AsyncIterable<string[]> | null> {
    const text = await this.readText(path, signal);
    if (text === null) return null;
    return (async function* () {
      yield text.split("\n");
    })();
  }
  async putFile(localFile: string, path: string, signal?: AbortSignal): Promise<void> {
    const temp = `${path}.tmp`;
    const child = spawnStream(
      "ssh",
      [
        ...sshOptions(this.endpoint),
        "--",
        sshLogin(this.endpoint),
        `umask 077 && cat > ${shellQuote(temp)} && mv -f -- ${shellQuote(temp)} ${shellQuote(path)}`,
      ],
      {
        stdin: createReadStream(localFile),
        stdout: "ignore",
        description: `ssh ${sshLogin(this.endpoint)} (write ${path})`,
        ...(signal === undefined ? {} : { signal }),
      },
    );
    try {
      await child.done;
    } catch (error) {
      throw new OperationError(error instanceof Error ? error.message : String(error), {
        cause: error,
        hint: sshHint(this.endpoint, error),
      });
    }
  }

  async hash(
    dir: string,
    files: ReadonlyArray<{ path: string; size: number }>,
    signal?: AbortSignal,
  ): Promise<Map<string, string>> {
    // Split by size into streams of about equal bytes; each is one `xargs sha256sum` over ssh.
    // Separate processes, separate pipes: their output never interleaves.
    const streams: Array<{ bytes: number; paths: string[] }> = Array.from(
      { length: REMOTE_HASH_STREAMS },
      () => ({
        bytes: 0,
        paths: [],
      }),
    );
    for (const file of [...files].sort((a, b) => b.size - a.size)) {
      const lightest = streams.reduce((a, b) => (b.bytes < a.bytes ? b : a));
      lightest.bytes += file.size;
      lightest.paths.push(file.path);
    }
    const result = new Map<string, string>();
    await Promise.all(
      streams
        .filter((stream) => stream.paths.length > 0)
        .map(async (stream) => {
          for (const [path, sha] of await this.hashStream(dir, stream.paths, signal)) result.set(path, sha);
        }),
    );
    return result;
  }

  private async hashStream(dir: string, paths: string[], signal?: AbortSignal): Promise<Map<string, string>> {
    const input = Readable.from([Buffer.from(paths.map((p) => `./${p}\0`).join(""))]);
    const child = spawnStream(
      "ssh",
      [
        ...sshOptions(this.endpoint),
        "--",
        sshLogin(this.endpoint),
        `cd -- ${shellQuote(dir)} && xargs -0 -r sha256sum -z --`,
      ],
      {
        stdin: input,
        description: `sha256sum on ${sshLogin(this.endpoint)}`,
        ...(signal === undefined ? {} : { signal }),
      },
    );
    const chunks: Buffer[] = [];
    child.stdout.on("data", (chunk: Buffer) => chunks.push(chunk));
    try {
      await child.done;
    } catch (error) {
      throw new OperationError(error instanceof Error ? error.message : String(error), {
        cause: error,
        hint:
          "a file that cannot be read (permissions) or vanished makes sha256sum fail; " +
          sshHint(this.endpoint),
      });
    }
    const out = new Map<string, string>();
    for (const record of Buffer.concat(chunks).toString("utf8").split("\0")) {
      if (record === "") continue;
      // "<64 hex><space><space or *><name>"; -z output is not escaped.
      const sha = record.slice(0, 64);
      const name = record.slice(66).replace(/^\.\//, "");
      out.set(name, sha);
    }
    return out;
  }
}

const FIND_TYPES: Record<string, EntryType> = { f: "file", d: "dir", l: "symlink" };

export function parseFindOutput(stdout: string): ScannedEntry[] {
  const fields = stdout.split("\0");
  const entries: ScannedEntry[] = [];
  for (let i = 0; i + FIND_FIELDS <= fields.length; i += FIND_FIELDS) {
    const [
      y = "",
      dev = "",
      ino = "",
      size = "0",
      mode = "0",
      uid = "0",
      gid = "0",
      time = "0",
      target = "",
      path = "",
    ] = fields.slice(i, i + FIND_FIELDS);
    const type = FIND_TYPES[y] ?? "other";
    const entry: ScannedEntry = {
      path,
      type,
      size: Number(size),
      mode: mode.padStart(4, "0"),
      uid: Number(uid),
      gid: Number(gid),
      dev,
      ino,
      mtimeNs: nsFromSecondsText(time),
    };
    if (type === "symlink") entry.target = target;
    entries.push(entry);
  }
  return entries;
}
