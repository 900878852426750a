/** Fingerprints and comparisons of directory trees, for the harnesses whose targets are directories. */
import { createHash } from "node:crypto";
import { lstat, readdir, readFile, readlink } from "node:fs/promises";
import path from "node:path";

/** Every entry under `root` with its type, mode and content hash, sorted; "" when `root` is absent. */
export async function treeState(root: string): Promise<string> {
  const lines: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    let names: string[];
    try {
      names = await readdir(dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return;
      throw error;
    }
    for (const name of names.sort()) {
      const full = path.join(dir, name);
      const rel = path.relative(root, full);
      const info = await lstat(full);
      const mode = (info.mode & 0o7777).toString(8);
      if (info.isSymbolicLink()) lines.push(`l ${rel} -> ${await readlink(full)}`);
      else if (info.isDirectory()) {
        lines.push(`d ${rel} ${mode}`);
        await walk(full);
      } else {
        lines.push(
          `f ${rel} ${mode} ${createHash("sha256")
            .update(await readFile(full))
            .digest("hex")}`,
        );
      }
    }
  };
  await walk(root);
  return lines.join("\n");
}

/** Throws naming what differs when `actual` does not hold everything `expected` holds. */
export async function expectTreeContains(expected: string, actual: string): Promise<void> {
  const want = (await treeState(expected)).split("\n").filter((line) => line !== "");
  const have = new Set((await treeState(actual)).split("\n"));
  const missing = want.filter((line) => !have.has(line));
  if (missing.length > 0) {
    throw new Error(`${missing.length} entries differ from ${expected}: ${missing.slice(0, 5).join("; ")}`);
  }
}
