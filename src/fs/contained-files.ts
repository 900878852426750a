/**
 * Writing a file directly inside a directory whose contents came from a snapshot (an unpacked
 * base backup, a restored vault): the name is one path component, and the write never follows a
 * symbolic link or lands in a file that is linked elsewhere. A snapshot that put a symlink at
 * `postgresql.auto.conf` pointing at /etc/passwd would otherwise have the restore truncate or
 * append to that file.
 */
import { constants } from "node:fs";
import { open } from "node:fs/promises";
import path from "node:path";
import { IntegrityError, UsageError } from "../errors.js";

/** Why `name` is not a single, ordinary path component, or undefined. */
export function fileNameProblem(name: string): string | undefined {
  if (name === "" || name === "." || name === "..") return "is not a file name";
  if (name.includes("/") || name.includes("\0")) return "is not a single path component";
  return undefined;
}

/**
 * Writes (or appends) `data` to `dir/name` with O_NOFOLLOW: a symlink there fails with ELOOP,
 * and anything but a regular file with a single link is refused before a byte is written.
 */
export async function writeContainedFile(
  dir: string,
  name: string,
  data: string | Buffer,
  options: { append?: boolean; mode?: number } = {},
): Promise<void> {
  const problem = fileNameProblem(name);
  if (problem !== undefined) throw new UsageError(`${JSON.stringify(name)} ${problem}`);
  const file = path.join(dir, name);
  const flags =
    constants.O_WRONLY |
    constants.O_CREAT |
    constants.O_NOFOLLOW |
    constants.O_NONBLOCK |
    (options.append === true ? constants.O_APPEND : constants.O_TRUNC);
  let handle;
  try {
    // O_TRUNC would empty a hard-linked file before we can look at it: open without it first.
    handle = await open(file, flags & ~constants.O_TRUNC, options.mode ?? 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ELOOP") {
      throw new IntegrityError(`${file} is a symbolic link; refusing to write through it`, {
        hint: "the restored tree put a link where backdrill writes a file: the snapshot is not a plain backup; restore another snapshot",
      });
    }
    throw error;
  }
  try {
    const info = await handle.stat();
    if (!info.isFile() || info.nlink > 1) {
      throw new IntegrityError(
        `${file} is ${info.isFile() ? "a hard link to another file" : "not a regular file"}; refusing to write to it`,
        { hint: "the restored tree is not a plain backup; restore another snapshot" },
      );
    }
    if (options.append !== true) await handle.truncate(0);
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
}
