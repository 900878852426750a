/**
 * Generates the file tree the files engine is tested and benchmarked on: many small files spread
 * over directories, a few large ones, unicode and space-containing names, a symlink, empty
 * directories, and a few unusual modes. Content is deterministic per (seed, path), so two
 * generations of the same spec are byte-identical.
 *
 *   const tree = await makeFileTree(dir, { smallFiles: 10_000, largeFiles: [8 * MiB] });
 *   await mutateFileTree(dir, tree);   // adds, changes and deletes a few files
 */
import { createHash } from "node:crypto";
import { chmod, mkdir, open, rm, symlink, utimes, writeFile } from "node:fs/promises";
import path from "node:path";

export const MiB = 1024 * 1024;

export interface FileTreeSpec {
  smallFiles?: number;
  /** Sizes of the large files, in bytes. */
  largeFiles?: number[];
  /** Files per directory for the small files. */
  perDirectory?: number;
  seed?: string;
}

export interface FileTree {
  root: string;
  /** Relative paths of every regular file. */
  files: string[];
  smallFiles: string[];
  largeFiles: string[];
  /** The special entries, by role. */
  special: {
    unicode: string[];
    spaces: string[];
    symlink: string;
    symlinkTarget: string;
    emptyDirs: string[];
    privateFile: string;
    executable: string;
  };
  bytes: number;
}

/** Deterministic pseudo-random bytes (sha256 in counter mode): fast enough, no state. */
export function deterministicBytes(seed: string, length: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  let offset = 0;
  for (let counter = 0; offset < length; counter += 1) {
    const block = createHash("sha256").update(`${seed}:${counter}`).digest();
    offset += block.copy(out, offset, 0, Math.min(block.length, length - offset));
  }
  return out;
}

async function writeLarge(file: string, bytes: number, seed: string): Promise<void> {
  const handle = await open(file, "w", 0o644);
  try {
    const block = deterministicBytes(seed, MiB);
    for (let written = 0; written < bytes; written += MiB) {
      // Vary each MiB a little so blocks are not identical (deduplicating tools must really work).
      block.writeUInt32BE(written / MiB, 0);
      await handle.write(block, 0, Math.min(MiB, bytes - written));
    }
  } finally {
    await handle.close();
  }
}

export async function makeFileTree(root: string, spec: FileTreeSpec = {}): Promise<FileTree> {
  const seed = spec.seed ?? "backdrill";
  const smallCount = spec.smallFiles ?? 10_000;
  const perDirectory = spec.perDirectory ?? 100;
  await mkdir(root, { recursive: true });
  const tree: FileTree = {
    root,
    files: [],
    smallFiles: [],
    largeFiles: [],
    special: {
      unicode: ["Überweisung – März.txt", "日本語/ファイル名.txt", "émoji 🎉/naïve café.md"],
      spaces: ["with space/a file with spaces.txt", " leading space.txt", "trailing space .txt"],
      symlink: "links/to readme",
      symlinkTarget: "../readme.txt",
      emptyDirs: ["empty", "nested/empty/deeper"],
      privateFile: "secrets/private.key",
      executable: "bin/run.sh",
    },
    bytes: 0,
  };
  const add = async (relative: string, content: Buffer, mode = 0o644): Promise<void> => {
    const file = path.join(root, relative);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, content, { mode });
    await chmod(file, mode);
    tree.files.push(relative);
    tree.bytes += content.length;
  };

  const batch: Array<Promise<void>> = [];
  for (let i = 0; i < smallCount; i += 1) {
    const dir = `data/d${String(Math.floor(i / perDirectory)).padStart(4, "0")}`;
    const relative = `${dir}/f${String(i).padStart(6, "0")}.bin`;
    const size = (i * 7919) % 4096; // 0 .. 4 KiB, some empty
    tree.smallFiles.push(relative);
    batch.push(add(relative, deterministicBytes(`${seed}:${relative}`, size)));
    if (batch.length >= 256) await Promise.all(batch.splice(0));
  }
  await Promise.all(batch);

  for (const [index, bytes] of (spec.largeFiles ?? []).entries()) {
    const relative = `large/blob-${index}.bin`;
    await mkdir(path.join(root, "large"), { recursive: true });
    await writeLarge(path.join(root, relative), bytes, `${seed}:${relative}`);
    tree.files.push(relative);
    tree.largeFiles.push(relative);
    tree.bytes += bytes;
  }

  await add("readme.txt", Buffer.from("backdrill test tree\n"));
  for (const name of [...tree.special.unicode, ...tree.special.spaces]) {
    await add(name, deterministicBytes(`${seed}:${name}`, 300));
  }
  await add(tree.special.privateFile, deterministicBytes(`${seed}:key`, 64), 0o600);
  await add(tree.special.executable, Buffer.from("#!/bin/sh\necho ok\n"), 0o755);
  await mkdir(path.join(root, path.dirname(tree.special.symlink)), { recursive: true });
  await symlink(tree.special.symlinkTarget, path.join(root, tree.special.symlink));
  for (const dir of tree.special.emptyDirs) await mkdir(path.join(root, dir), { recursive: true });
  return tree;
}

export interface Mutation {
  added: string[];
  changed: string[];
  deleted: string[];
}

/** Adds, changes (content and mtime) and deletes a few files; returns which. */
export async function mutateFileTree(tree: FileTree, round = 1): Promise<Mutation> {
  const pick = (offset: number): string =>
    tree.smallFiles[(offset * 997 + round * 31) % tree.smallFiles.length] as string;
  const added = [`added/round-${round}/new file ${round}.txt`, `data/added-${round}.bin`];
  const changed = [pick(1), pick(2), tree.special.unicode[0] as string];
  const deleted = [pick(3), pick(4)];
  for (const relative of added) {
    const file = path.join(tree.root, relative);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, deterministicBytes(`added:${round}:${relative}`, 1234));
  }
  const later = new Date(Date.now() + 60_000);
  for (const relative of changed) {
    const file = path.join(tree.root, relative);
    await writeFile(file, deterministicBytes(`changed:${round}:${relative}`, 777));
    await utimes(file, later, later);
  }
  for (const relative of deleted) await rm(path.join(tree.root, relative));
  return { added, changed, deleted };
}
