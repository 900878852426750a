/**
 * File system checks doctor runs for several parts (repositories on disk, files sources and
 * destinations, Symfony vaults): read-only, asked of the kernel with access(2), never tried.
 */
import { constants } from "node:fs";
import { access, stat } from "node:fs/promises";
import path from "node:path";
import type { Finding } from "./report.js";
import { fail, failureOf, ok, warn } from "./runner.js";

function errnoCode(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

export const uid = (): string => (typeof process.getuid === "function" ? ` (uid ${process.getuid()})` : "");

/** The nearest existing ancestor of `dir`, to tell "will be created" from "cannot be created". */
async function nearestExisting(dir: string): Promise<string> {
  let current = path.dirname(dir);
  for (;;) {
    try {
      await stat(current);
      return current;
    } catch {
      const parent = path.dirname(current);
      if (parent === current) return current;
      current = parent;
    }
  }
}

/** A local directory a run will write into: present and writable, or creatable. */
export async function checkWritableDir(dir: string, what: string): Promise<Finding> {
  let info;
  try {
    info = await stat(dir);
  } catch (error) {
    if (errnoCode(error) !== "ENOENT") return failureOf(error);
    const ancestor = await nearestExisting(dir);
    try {
      await access(ancestor, constants.W_OK | constants.X_OK);
      return warn(`${dir} does not exist yet; the first run creates it (in ${ancestor}, writable)`);
    } catch {
      return fail(
        `${dir} does not exist and cannot be created: ${ancestor} is not writable${uid()}`,
        `create ${dir} and give it to the user backdrill runs as (mkdir -p ${dir} && chown USER ${dir} && chmod 700 ${dir})`,
      );
    }
  }
  if (!info.isDirectory()) return fail(`${dir} is not a directory`, `point ${what} at a directory`);
  try {
    await access(dir, constants.R_OK | constants.W_OK | constants.X_OK);
  } catch {
    return fail(
      `${dir} is not readable and writable${uid()}`,
      `chown it to the user backdrill runs as, or chmod u+rwx ${dir}`,
    );
  }
  return ok(`${dir} exists and is writable${uid()}`);
}

/** `rsync  version 3.2.7  protocol version 31` → `3.2.7`; the first line otherwise. */
export function firstVersion(output: string): string {
  const line = output.split("\n").find((entry) => entry.trim() !== "") ?? "";
  return /version\s+(\S+)/i.exec(line)?.[1] ?? /OpenSSH_\S+/.exec(line)?.[0] ?? line.trim();
}

export async function readableDir(dir: string, field: string): Promise<Finding> {
  let info;
  try {
    info = await stat(dir);
  } catch {
    return fail(`${dir} does not exist`, `check ${field}; is the volume mounted?`);
  }
  if (!info.isDirectory()) return fail(`${dir} is not a directory`, `point ${field} at a directory`);
  try {
    await access(dir, constants.R_OK | constants.X_OK);
  } catch {
    return fail(`${dir} is not readable${uid()}`, "let the backdrill user read it (group membership or ACL)");
  }
  return ok(`${dir} is readable`);
}
