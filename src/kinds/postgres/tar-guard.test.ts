/**
 * The tar guard against archives GNU tar really writes (ustar, gnu and pax formats, long names),
 * and against hand-made hostile ones: every member that could land or point outside the target,
 * or be a special file, fails the stream; everything a base backup or a dump holds passes.
 */
import { mkdir, mkdtemp, readdir, rm, symlink, writeFile, link } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TarGuard, uncontainedPath, type TarGuardOptions } from "./tar-guard.js";
import { unpackInto } from "./tar.js";
import { run, spawnStream } from "../../exec/process.js";

let work: string;

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), "backdrill-tar-guard-"));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

const OPTIONS: TarGuardOptions = { what: "the test archive", allowSymlinks: true, allowHardLinks: true };

async function tarOf(dir: string, args: string[] = []): Promise<Buffer> {
  const tar = spawnStream("tar", ["-C", dir, ...args, "-cf", "-", "."], { description: "tar" });
  const chunks: Buffer[] = [];
  for await (const chunk of tar.stdout) chunks.push(chunk as Buffer);
  await tar.done;
  return Buffer.concat(chunks);
}

async function guard(archive: Buffer, options: TarGuardOptions = OPTIONS): Promise<number> {
  const stage = new TarGuard(options);
  // Small chunks: headers split across chunks must parse the same.
  const chunks = [];
  for (let i = 0; i < archive.length; i += 333) chunks.push(archive.subarray(i, i + 333));
  await pipeline(Readable.from(chunks), stage, new Writable({ write: (_chunk, _encoding, done) => done() }));
  return stage.members;
}

/** A ustar header block for a hand-made member. */
function header(name: string, type: string, options: { size?: number; link?: string } = {}): Buffer {
  const block = Buffer.alloc(512);
  block.write(name, 0, 100, "utf8");
  block.write("0000644\0", 100, "latin1");
  block.write("0000000\0", 108, "latin1");
  block.write("0000000\0", 116, "latin1");
  block.write(`${(options.size ?? 0).toString(8).padStart(11, "0")}\0`, 124, "latin1");
  block.write("00000000000\0", 136, "latin1");
  block.write(type, 156, "latin1");
  block.write(options.link ?? "", 157, 100, "utf8");
  block.write("ustar\0", 257, "latin1");
  block.write("00", 263, "latin1");
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of block) sum += byte;
  block.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, "latin1");
  return block;
}

function archive(...parts: Buffer[]): Buffer {
  return Buffer.concat([...parts, Buffer.alloc(1024)]);
}

describe("uncontainedPath", () => {
  it("accepts relative paths and refuses absolute ones and '..'", () => {
    expect(uncontainedPath("./base/1/1259")).toBeUndefined();
    expect(uncontainedPath("pg_wal/")).toBeUndefined();
    expect(uncontainedPath("/etc/passwd")).toBe("is absolute");
    expect(uncontainedPath("a/../../b")).toBe("contains '..'");
    expect(uncontainedPath("a\0b")).toBe("contains a NUL byte");
  });
});

describe("TarGuard over archives GNU tar writes", () => {
  it("passes files, directories, links inside the tree and long names, in every format", async () => {
    const dir = path.join(work, "good");
    await mkdir(path.join(dir, "base", "1"), { recursive: true });
    await writeFile(path.join(dir, "base", "1", "1259"), Buffer.alloc(10_000, 7));
    await writeFile(path.join(dir, "PG_VERSION"), "17\n");
    await symlink("base/1", path.join(dir, "inside"));
    await link(path.join(dir, "PG_VERSION"), path.join(dir, "hard"));
    // Longer than ustar's 100-byte name field: prefix field, GNU long names or pax records.
    const long = path.join("a".repeat(60), "b".repeat(60));
    await mkdir(path.join(dir, long), { recursive: true });
    await writeFile(path.join(dir, long, "f".repeat(90)), "x");
    for (const format of ["gnu", "pax", "ustar"]) {
      const members = await guard(await tarOf(dir, [`--format=${format}`]));
      expect(members, format).toBeGreaterThanOrEqual(8);
    }
  });

  it("refuses symlinks and hard links where the archive may hold none (a dump)", async () => {
    const dir = path.join(work, "dump");
    await mkdir(dir);
    await writeFile(path.join(dir, "toc.dat"), "x");
    await symlink("toc.dat", path.join(dir, "alias"));
    const tar = await tarOf(dir);
    await expect(guard(tar, { ...OPTIONS, allowSymlinks: false })).rejects.toThrow(
      /member "\.\/alias" is a symbolic link/,
    );
  });

  it("refuses a symlink out of the tree, absolute or through '..'", async () => {
    const dir = path.join(work, "out");
    await mkdir(dir);
    await symlink("/etc/passwd", path.join(dir, "postgresql.auto.conf"));
    await expect(guard(await tarOf(dir))).rejects.toThrow(
      /symbolic link to "\/etc\/passwd", which is absolute/,
    );
    const dir2 = path.join(work, "up");
    await mkdir(dir2);
    await symlink("../../victim", path.join(dir2, "recovery.signal"));
    await expect(guard(await tarOf(dir2))).rejects.toThrow(/contains '\.\.'/);
  });

  it("refuses FIFOs (and any special file)", async () => {
    const dir = path.join(work, "fifo");
    await mkdir(dir);
    await run("mkfifo", [path.join(dir, "pipe")]);
    await expect(guard(await tarOf(dir))).rejects.toThrow(/tar type "6"/);
  });

  it("refuses absolute names and '..' in names, also from a pax path record", async () => {
    await expect(guard(archive(header("/etc/cron.d/x", "0")))).rejects.toThrow(
      /"\/etc\/cron.d\/x" is absolute/,
    );
    await expect(guard(archive(header("a/../../x", "0")))).rejects.toThrow(/contains '\.\.'/);
    const record = " path=../escape\n";
    const pax = `${record.length + String(record.length + 2).length}${record}`;
    const body = Buffer.alloc(512);
    body.write(pax);
    await expect(
      guard(
        archive(header("PaxHeader/x", "x", { size: Buffer.byteLength(pax) }), body, header("harmless", "0")),
      ),
    ).rejects.toThrow(/"\.\.\/escape" contains '\.\.'/);
  });

  it("refuses a hard link out of the tree and a header with a wrong checksum", async () => {
    await expect(guard(archive(header("x", "1", { link: "/etc/shadow" })))).rejects.toThrow(/hard link/);
    const bad = header("x", "0");
    bad[0] = "y".charCodeAt(0);
    await expect(guard(archive(bad))).rejects.toThrow(/wrong checksum/);
  });

  it("refuses an archive that ends inside a member", async () => {
    await expect(guard(header("x", "0", { size: 100 }))).rejects.toThrow(/ends in the middle/);
  });
});

describe("unpackInto", () => {
  it("unpacks nothing past a hostile member, and nothing outside the directory", async () => {
    const target = path.join(work, "target");
    await mkdir(target);
    const hostile = archive(
      header("ok.txt", "0"),
      header("evil", "2", { link: "/tmp" }),
      header("evil/x", "0"),
    );
    const controller = new AbortController();
    await expect(
      unpackInto(target, Readable.from([hostile]), controller.signal, "the test archive", {
        symlinks: true,
        hardLinks: false,
      }),
    ).rejects.toThrow(/not a safe tar archive/);
    expect(await readdir(target)).toEqual([]);
  });
});
