import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Readable } from "node:stream";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Scope } from "../../lifecycle/scope.js";
import { FIFO_DIR_PREFIX, makeToolFifo } from "./tool-fifo.js";

let parent: string;
const savedTmpdir = process.env.TMPDIR;

beforeAll(async () => {
  parent = await mkdtemp(path.join(tmpdir(), "backdrill-fifo-test-"));
  // os.tmpdir() follows TMPDIR: every FIFO directory of these tests lands in `parent`.
  process.env.TMPDIR = parent;
});

afterAll(async () => {
  if (savedTmpdir === undefined) delete process.env.TMPDIR;
  else process.env.TMPDIR = savedTmpdir;
  await rm(parent, { recursive: true, force: true });
});

afterEach(async () => {
  expect(await readdir(parent)).toEqual([]);
});

async function readAll(stream: Readable): Promise<string> {
  let text = "";
  for await (const chunk of stream) text += String(chunk);
  return text;
}

/** Settles within `ms` or fails the test: an open that never returns would hang it. */
function within<T>(promise: Promise<T>, ms = 5000): Promise<T> {
  return Promise.race([
    promise,
    new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`still waiting after ${ms} ms`)), ms)),
  ]);
}

/** A pid no process can have (above any pid_max), as a SIGKILLed run's pid is once it is gone. */
const DEAD_PID = 2 ** 31 - 1;

describe("tool FIFO", () => {
  it("is a 0600 FIFO alone in a 0700 directory named with our pid", async () => {
    const scope = new Scope();
    const fifo = await makeToolFifo(scope, "pg_dump of database task");
    expect(path.dirname(fifo.dir)).toBe(parent);
    expect(path.basename(fifo.dir).startsWith(`${FIFO_DIR_PREFIX}${process.pid}-`)).toBe(true);
    expect(path.dirname(fifo.path)).toBe(fifo.dir);
    const dir = await stat(fifo.dir);
    expect(dir.isDirectory() && dir.mode & 0o777).toBe(0o700);
    const node = await stat(fifo.path);
    expect(node.isFIFO()).toBe(true);
    expect(node.mode & 0o777).toBe(0o600);
    expect(await readdir(fifo.dir)).toEqual([path.basename(fifo.path)]);
    await scope.close();
    await expect(stat(fifo.dir)).rejects.toMatchObject({ code: "ENOENT" });
  });

  it("hands over what the tool writes and is removed when done", async () => {
    const scope = new Scope();
    const fifo = await makeToolFifo(scope, "pg_dump");
    const reader = fifo.reader(new Promise(() => undefined));
    const tool = createWriteStream(fifo.path);
    tool.end("PGDMP and the rest of the dump");
    expect(await within(readAll(reader))).toBe("PGDMP and the rest of the dump");
    await fifo.remove();
    await expect(stat(fifo.dir)).rejects.toMatchObject({ code: "ENOENT" });
    expect(await scope.close()).toEqual([]);
  });

  it("feeds a tool that reads it, which sees the end when our end closes", async () => {
    const scope = new Scope();
    const fifo = await makeToolFifo(scope, "pg_restore");
    const writer = fifo.writer(new Promise(() => undefined));
    const tool = readAll(createReadStream(fifo.path));
    writer.end("the archive");
    expect(await within(tool)).toBe("the archive");
    await fifo.remove();
    await scope.close();
  });

  it("does not hang when the tool exits without opening it (reading end)", async () => {
    const scope = new Scope();
    const fifo = await makeToolFifo(scope, "pg_dump");
    let exit: (error: Error) => void = () => undefined;
    const toolExit = new Promise<never>((_, reject) => (exit = reject));
    toolExit.catch(() => undefined);
    const reader = fifo.reader(toolExit);
    const text = readAll(reader);
    exit(new Error("docker: Error response from daemon: no such image"));
    // Our pending open completes and sees the end: no bytes, the tool's exit says why.
    expect(await within(text)).toBe("");
    await fifo.remove();
    await expect(stat(fifo.dir)).rejects.toMatchObject({ code: "ENOENT" });
    await scope.close();
  });

  it("does not hang when the tool exits without opening it (writing end)", async () => {
    const scope = new Scope();
    const fifo = await makeToolFifo(scope, "pg_restore");
    const writer = fifo.writer(Promise.resolve());
    const closed = new Promise((resolve) => writer.on("close", resolve));
    writer.on("error", () => undefined);
    writer.write(Buffer.alloc(256 * 1024));
    // Nobody reads: the write fails (EPIPE) instead of waiting, and our end closes.
    await within(closed);
    await fifo.remove();
    await scope.close();
  });

  it("is removed, pending open and all, when its scope closes on a failure", async () => {
    const scope = new Scope();
    const fifo = await makeToolFifo(scope, "pg_dump");
    const reader = fifo.reader(new Promise(() => undefined));
    const text = readAll(reader);
    const errors = await within(scope.close());
    expect(errors).toEqual([]);
    expect(await within(text)).toBe("");
    await expect(stat(fifo.dir)).rejects.toMatchObject({ code: "ENOENT" });
  });

  it("sweeps the FIFO directories of runs that are gone, never a live one's", async () => {
    const dead = path.join(parent, `${FIFO_DIR_PREFIX}${DEAD_PID}-aaaaaa`);
    const live = path.join(parent, `${FIFO_DIR_PREFIX}1-bbbbbb`);
    await mkdir(dead);
    await mkdir(live);
    const scope = new Scope();
    const fifo = await makeToolFifo(scope, "pg_dump");
    expect((await readdir(parent)).sort()).toEqual([path.basename(fifo.dir), path.basename(live)].sort());
    await scope.close();
    await rm(live, { recursive: true });
  });
});
