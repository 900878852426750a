/** Writes into a tree a snapshot filled never follow a link it left there. */
import { link, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeContainedFile } from "./contained-files.js";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "backdrill-contained-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("writeContainedFile", () => {
  it("writes and appends to plain files", async () => {
    await writeContainedFile(dir, "recovery.signal", "");
    await writeContainedFile(dir, "auto.conf", "a\n");
    await writeContainedFile(dir, "auto.conf", "b\n", { append: true });
    expect(await readFile(path.join(dir, "auto.conf"), "utf8")).toBe("a\nb\n");
  });

  it("refuses a symlink at the name and leaves its target alone", async () => {
    const victim = path.join(dir, "victim");
    await writeFile(victim, "keep\n");
    await symlink(victim, path.join(dir, "link.conf"));
    await expect(writeContainedFile(dir, "link.conf", "x", { append: true })).rejects.toThrow(
      /is a symbolic link/,
    );
    await expect(writeContainedFile(dir, "link.conf", "x")).rejects.toThrow(/is a symbolic link/);
    expect(await readFile(victim, "utf8")).toBe("keep\n");
  });

  it("refuses a hard-linked file without truncating it, and names that are not one component", async () => {
    const victim = path.join(dir, "victim2");
    await writeFile(victim, "keep\n");
    await link(victim, path.join(dir, "hard.conf"));
    await expect(writeContainedFile(dir, "hard.conf", "x")).rejects.toThrow(/hard link/);
    expect(await readFile(victim, "utf8")).toBe("keep\n");
    await expect(writeContainedFile(dir, "../x", "x")).rejects.toThrow(/single path component/);
    await expect(writeContainedFile(dir, "..", "x")).rejects.toThrow(/not a file name/);
  });
});
