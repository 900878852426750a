/**
 * A `Backend` on a local (or mounted) directory.
 *
 * Atomic writes the classic way: the body goes to a hidden temporary file in the destination
 * directory (same file system, so the final step is a metadata operation), is fsynced, and is then
 * published under its key — `rename` when overwriting, `link` when not (link fails with EEXIST
 * instead of replacing, so two concurrent conditional writers cannot clobber each other; the
 * rename-noreplace semantics without needing renameat2) — and finally the directory is fsynced so
 * the new name survives a power cut. Readers therefore see either nothing or a complete file.
 *
 * Files are created 0600 and directories 0700 whatever the umask: the repository holds
 * ciphertext only, but its layout and sizes are still nobody else's business.
 *
 * Requires a file system with hard links (any local Linux file system; not some SMB/FUSE mounts).
 */
import { randomBytes } from "node:crypto";
import { constants, type Dirent } from "node:fs";
import {
  link,
  mkdir,
  open,
  opendir,
  readdir,
  rename,
  rm,
  rmdir,
  stat,
  unlink,
  type FileHandle,
} from "node:fs/promises";
import { basename, dirname, join, relative, resolve, sep } from "node:path";
import { addAbortSignal, Readable } from "node:stream";
import { AlreadyExistsError, NotFoundError, OperationError, UsageError } from "../../errors.js";
import { logger } from "../../log/logger.js";
import {
  type AbortIncompleteUploadsOptions,
  type AbortIncompleteUploadsResult,
  type Backend,
  type GetOptions,
  type ObjectInfo,
  type PutOptions,
  RESERVED_SEGMENT_PREFIX,
  validateKey,
  validatePrefix,
  validateRange,
} from "../backend.js";
import { errnoCode, fsError } from "./fs-errors.js";

export interface LocalBackendOptions {
  /** The repository root. Created (0700) on the first write if it does not exist. */
  path: string;
}

const FILE_MODE = 0o600;
const DIR_MODE = 0o700;
/** Codes meaning "this path does not exist as a file". */
const MISSING = new Set(["ENOENT", "ENOTDIR"]);

export class LocalBackend implements Backend {
  readonly location: string;
  private readonly root: string;

  constructor(options: LocalBackendOptions) {
    if (options.path === "") throw new UsageError("local repository path is empty");
    this.root = resolve(options.path);
    this.location = this.root;
  }

  async put(key: string, body: Readable, options: PutOptions = {}): Promise<{ size: number }> {
    const { signal, overwrite = false, contentLength } = options;
    const target = this.pathOf(key, () => body.destroy());
    const dir = dirname(target);
    let temp: string | undefined;
    try {
      signal?.throwIfAborted();
      // Fail fast, before consuming the body, when the answer is already known. The link below
      // is what actually guarantees no clobbering.
      if (!overwrite && (await this.isFile(target))) throw new AlreadyExistsError(key);
      const opened = await this.openTemp(dir);
      temp = opened.path;
      let size: number;
      try {
        size = await writeBody(opened.handle, body, target, signal);
        if (contentLength !== undefined && size !== contentLength) {
          throw new OperationError(
            `cannot write ${target}: body was ${size} bytes, expected ${contentLength}; nothing was stored`,
          );
        }
        await opened.handle.sync();
      } finally {
        await opened.handle.close();
      }
      signal?.throwIfAborted();
      if (overwrite) {
        await rename(temp, target);
      } else {
        try {
          await link(temp, target);
        } catch (error) {
          if (errnoCode(error) === "EEXIST") throw new AlreadyExistsError(key);
          throw error;
        }
        // Committed: the object is visible under its key. The temp name is only a second link
        // to it now, and failing to remove it must not fail the put (list never shows it).
        await unlink(temp).catch((error: unknown) =>
          logger().warn({ path: temp, err: String(error) }, "could not remove temporary file"),
        );
      }
      temp = undefined;
      await syncDirectory(dir);
      return { size };
    } catch (error) {
      body.destroy();
      if (temp !== undefined) await rm(temp, { force: true }).catch(() => undefined);
      if (signal?.aborted) throw signal.reason;
      throw this.mapError("write", target, error);
    }
  }

  async get(key: string, options: GetOptions = {}): Promise<Readable> {
    const path = this.pathOf(key);
    const range = options.range === undefined ? undefined : validateRange(options.range);
    options.signal?.throwIfAborted();
    let handle: FileHandle;
    try {
      handle = await open(path, constants.O_RDONLY);
    } catch (error) {
      if (MISSING.has(errnoCode(error) ?? "")) throw new NotFoundError(key, { cause: error });
      throw fsError("read", path, error);
    }
    try {
      // open() succeeds on a directory; a directory is not an object.
      if (!(await handle.stat()).isFile()) throw new NotFoundError(key);
    } catch (error) {
      await handle.close();
      throw error instanceof NotFoundError ? error : fsError("read", path, error);
    }
    if (range?.length === 0) {
      await handle.close();
      return Readable.from([]);
    }
    const stream = handle.createReadStream(
      range === undefined ? {} : { start: range.offset, end: range.offset + range.length - 1 },
    );
    return options.signal === undefined ? stream : addAbortSignal(options.signal, stream);
  }

  async stat(key: string): Promise<ObjectInfo | null> {
    const path = this.pathOf(key);
    try {
      const info = await stat(path);
      return info.isFile() ? { key, size: info.size, modified: info.mtime } : null;
    } catch (error) {
      if (MISSING.has(errnoCode(error) ?? "")) return null;
      throw fsError("stat", path, error);
    }
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    validatePrefix(prefix);
    // Start at the deepest directory the prefix pins down; its last segment may be partial.
    const slash = prefix.lastIndexOf("/");
    const startKey = slash < 0 ? "" : prefix.slice(0, slash);
    yield* this.walk(startKey, prefix);
  }

  async delete(key: string): Promise<void> {
    const path = this.pathOf(key);
    try {
      await unlink(path);
    } catch (error) {
      const code = errnoCode(error) ?? "";
      // A directory is not an object, so there was nothing to delete.
      if (MISSING.has(code) || code === "EISDIR") return;
      throw fsError("delete", path, error);
    }
    await this.removeEmptyParents(dirname(path));
  }

  async close(): Promise<void> {
    // Nothing is held open between calls.
  }

  /**
   * Removes the temporary files of writes that never finished under `prefix`: the local
   * counterpart of S3's incomplete multipart uploads (same contract, see the Backend interface).
   * A clean failure removes its own temporary file, but a SIGKILLed run cannot, and the file is
   * invisible to `list`, so nothing else would ever free its space. `initiated` is the file's
   * mtime, i.e. its last write: `olderThan` keeps files a live writer may still be filling.
   */
  async abortIncompleteUploads(
    prefix: string,
    options: AbortIncompleteUploadsOptions = {},
  ): Promise<AbortIncompleteUploadsResult> {
    validatePrefix(prefix);
    const slash = prefix.lastIndexOf("/");
    const startKey = slash < 0 ? "" : prefix.slice(0, slash);
    const start = startKey === "" ? this.root : join(this.root, ...startKey.split("/"));
    const result: AbortIncompleteUploadsResult = { aborted: [], kept: [], failed: [] };
    for (const path of await findTemporaryFiles(start)) {
      options.signal?.throwIfAborted();
      const key = relative(this.root, path).split(sep).join("/");
      if (!key.startsWith(prefix)) continue;
      let modified: Date;
      try {
        modified = (await stat(path)).mtime;
      } catch {
        continue; // finished or removed meanwhile
      }
      const upload = { key, uploadId: basename(path), initiated: modified };
      if (options.olderThan !== undefined && modified.getTime() >= options.olderThan.getTime()) {
        result.kept.push(upload);
        continue;
      }
      try {
        await unlink(path);
      } catch (error) {
        if (MISSING.has(errnoCode(error) ?? "")) continue;
        result.failed.push({ ...upload, error: fsError("remove", path, error).message });
        continue;
      }
      result.aborted.push(upload);
      await this.removeEmptyParents(dirname(path));
    }
    return result;
  }

  /** Absolute path of a key; `onInvalid` runs before the UsageError is thrown. */
  private pathOf(key: string, onInvalid?: () => void): string {
    try {
      validateKey(key);
    } catch (error) {
      onInvalid?.();
      throw error;
    }
    return join(this.root, ...key.split("/"));
  }

  private async isFile(path: string): Promise<boolean> {
    try {
      return (await stat(path)).isFile();
    } catch (error) {
      if (MISSING.has(errnoCode(error) ?? "")) return false;
      throw error;
    }
  }

  /**
   * Creates the temporary file, creating missing directories on demand. Retried a few times
   * because a concurrent `delete` may remove a directory that just became empty between our
   * mkdir and our open.
   */
  private async openTemp(dir: string): Promise<{ handle: FileHandle; path: string }> {
    for (let attempt = 1; ; attempt++) {
      const path = join(dir, `${RESERVED_SEGMENT_PREFIX}${randomBytes(8).toString("hex")}`);
      try {
        const handle = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, FILE_MODE);
        // The umask may have removed bits from FILE_MODE; it never adds any, but be explicit.
        await handle.chmod(FILE_MODE).catch(async (error: unknown) => {
          await handle.close();
          await rm(path, { force: true });
          throw error;
        });
        return { handle, path };
      } catch (error) {
        if (errnoCode(error) !== "ENOENT" || attempt >= 3) throw error;
        await this.ensureDirectory(dir);
      }
    }
  }

  /** mkdir -p for `dir` below the root (and the root itself), each created level chmod 0700. */
  private async ensureDirectory(dir: string): Promise<void> {
    await mkdir(dirname(this.root), { recursive: true });
    const levels = [this.root];
    const relative = dir.slice(this.root.length).split("/").filter(Boolean);
    for (const segment of relative) levels.push(join(levels[levels.length - 1] ?? this.root, segment));
    for (const level of levels) {
      try {
        await mkdir(level, DIR_MODE);
      } catch (error) {
        if (errnoCode(error) === "EEXIST") continue;
        throw error;
      }
      await chmodDirectory(level);
    }
  }

  /** Depth-first walk in UTF-8 byte order of full keys (see `sortEntries`). */
  private async *walk(dirKey: string, prefix: string): AsyncGenerator<ObjectInfo> {
    const dirPath = dirKey === "" ? this.root : join(this.root, ...dirKey.split("/"));
    let entries: Dirent[];
    try {
      entries = await readdir(dirPath, { withFileTypes: true });
    } catch (error) {
      // A missing directory is an empty listing (including a repository never written to).
      if (MISSING.has(errnoCode(error) ?? "")) return;
      throw fsError("list", dirPath, error);
    }
    for (const entry of sortEntries(entries)) {
      if (entry.name.startsWith(RESERVED_SEGMENT_PREFIX)) continue;
      const key = dirKey === "" ? entry.name : `${dirKey}/${entry.name}`;
      if (entry.isDirectory()) {
        const asDir = `${key}/`;
        if (asDir.startsWith(prefix) || prefix.startsWith(asDir)) yield* this.walk(key, prefix);
      } else if (entry.isFile() && key.startsWith(prefix)) {
        const path = join(dirPath, entry.name);
        try {
          const info = await stat(path);
          yield { key, size: info.size, modified: info.mtime };
        } catch (error) {
          // Deleted since readdir: not part of the listing any more.
          if (!MISSING.has(errnoCode(error) ?? "")) throw fsError("list", path, error);
        }
      }
    }
  }

  /** After a delete, removes directories that became empty, up to (not including) the root. */
  private async removeEmptyParents(dir: string): Promise<void> {
    let current = dir;
    while (current.startsWith(`${this.root}/`)) {
      try {
        await rmdir(current);
      } catch {
        return; // not empty, already gone, or not ours to remove: stop quietly
      }
      current = dirname(current);
    }
  }

  private mapError(action: string, path: string, error: unknown): unknown {
    if (
      error instanceof AlreadyExistsError ||
      error instanceof OperationError ||
      error instanceof UsageError
    ) {
      return error;
    }
    // Errors from the caller's body stream are the caller's: pass them through unchanged.
    if (error !== null && typeof error === "object" && bodyErrors.has(error)) return error;
    if (errnoCode(error) === undefined) return error;
    return fsError(action, path, error);
  }
}

/** Errors raised by a caller's body stream, which `put` passes through rather than blaming the disk. */
const bodyErrors = new WeakSet<object>();

/** Copies body into the file; disk errors become `fsError`s naming `target`, body errors are tagged. */
async function writeBody(
  handle: FileHandle,
  body: Readable,
  target: string,
  signal: AbortSignal | undefined,
): Promise<number> {
  // An abort destroys the body, which ends the loop below even while the producer is stalled.
  if (signal !== undefined) addAbortSignal(signal, body);
  let size = 0;
  try {
    for await (const chunk of body) {
      const bytes: Buffer = typeof chunk === "string" ? Buffer.from(chunk) : (chunk as Buffer);
      await writeFully(handle, bytes, target);
      size += bytes.length;
    }
  } catch (error) {
    if (!(error instanceof OperationError) && error !== null && typeof error === "object")
      bodyErrors.add(error);
    throw error;
  }
  return size;
}

/** write(2) may write less than asked; loop until the chunk is on its way to disk. */
async function writeFully(handle: FileHandle, bytes: Buffer, target: string): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) {
    try {
      const { bytesWritten } = await handle.write(bytes, offset, bytes.length - offset);
      offset += bytesWritten;
    } catch (error) {
      throw fsError("write", target, error);
    }
  }
}

/**
 * Sorts directory entries so that a depth-first walk yields full keys in UTF-8 byte order: a
 * directory `d` stands for all keys `d/…`, so it is compared as "d/". That puts "a-b" (0x2d)
 * before the keys under "a/" (0x2f), exactly where a flat sort of full keys would.
 */
function sortEntries(entries: Dirent[]): Dirent[] {
  const sortName = (entry: Dirent): Buffer =>
    Buffer.from(entry.isDirectory() ? `${entry.name}/` : entry.name);
  return entries
    .map((entry) => ({ entry, name: sortName(entry) }))
    .sort((a, b) => Buffer.compare(a.name, b.name))
    .map(({ entry }) => entry);
}

async function chmodDirectory(path: string): Promise<void> {
  const handle = await open(path, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await handle.chmod(DIR_MODE);
  } finally {
    await handle.close();
  }
}

/** fsync a directory so a rename/link in it is durable. */
async function syncDirectory(path: string): Promise<void> {
  const handle = await open(path, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Temporary files left by writes interrupted by a crash (a clean failure removes its own). `list`
 * never reports them; `doctor`/`prune` can, and the tests use this to prove nothing leaks.
 */
export async function findTemporaryFiles(root: string): Promise<string[]> {
  const found: string[] = [];
  const visit = async (dir: string): Promise<void> => {
    let handle;
    try {
      handle = await opendir(dir);
    } catch (error) {
      if (MISSING.has(errnoCode(error) ?? "")) return;
      throw error;
    }
    for await (const entry of handle) {
      const path = join(dir, entry.name);
      if (entry.name.startsWith(RESERVED_SEGMENT_PREFIX)) found.push(path);
      else if (entry.isDirectory()) await visit(path);
    }
  };
  await visit(root);
  return found;
}
