import { PassThrough, Readable } from "node:stream";
import { buffer } from "node:stream/consumers";
import { describe, expect, it } from "vitest";
import { ProgressStream } from "./progress.js";

function fakeTerminal(isTTY: boolean) {
  const out = new PassThrough() as PassThrough & { isTTY?: boolean; columns?: number };
  out.isTTY = isTTY;
  out.columns = 80;
  let written = "";
  out.on("data", (chunk: Buffer) => (written += chunk.toString()));
  return { out: out as unknown as NodeJS.WriteStream, written: () => written };
}

describe("ProgressStream", () => {
  it("passes data through unchanged and writes nothing when not a TTY", async () => {
    const term = fakeTerminal(false);
    const data = Buffer.alloc(3 * 1048576, 5);
    const out = await buffer(Readable.from([data]).pipe(new ProgressStream("db task.dump", term.out)));
    expect(out.equals(data)).toBe(true);
    expect(term.written()).toBe("");
  });

  it("draws and finally erases a progress line on a TTY", async () => {
    const term = fakeTerminal(true);
    const chunks = [Buffer.alloc(1048576), Buffer.alloc(1048576)];
    await buffer(Readable.from(chunks).pipe(new ProgressStream("db task.dump", term.out)));
    expect(term.written()).toMatch(/db task\.dump: 1\.0 MiB/);
    expect(term.written().endsWith("\r\u001b[2K")).toBe(true);
  });
});
