import { Readable } from "node:stream";
import { text } from "node:stream/consumers";
import { describe, expect, it } from "vitest";
import { allOrAbort, untilExit } from "./streams.js";

describe("untilExit", () => {
  it("passes the output through once the process succeeded", async () => {
    const out = untilExit(Readable.from([Buffer.from("abc"), Buffer.from("def")]), {
      done: Promise.resolve(),
    });
    expect(await text(out)).toBe("abcdef");
  });

  it("turns a failed process into a stream error, so a truncated dump is never stored", async () => {
    const done = Promise.reject(new Error("pg_dump of database task exited with code 1"));
    done.catch(() => undefined);
    const out = untilExit(Readable.from([Buffer.from("partial")]), { done });
    await expect(text(out)).rejects.toThrow("exited with code 1");
  });
});

describe("allOrAbort", () => {
  it("aborts the rest on the first failure and reports that first error", async () => {
    const controller = new AbortController();
    const slow = new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => resolve("late"), 5000);
      controller.signal.addEventListener("abort", () => {
        clearTimeout(timer);
        reject(new Error("aborted"));
      });
    });
    const failing = Promise.reject(new Error("storage full"));
    await expect(allOrAbort(controller, [slow, failing])).rejects.toThrow("storage full");
    expect(controller.signal.aborted).toBe(true);
  });

  it("returns every value when all succeed", async () => {
    await expect(
      allOrAbort(new AbortController(), [Promise.resolve(1), Promise.resolve("a")] as const),
    ).resolves.toEqual([1, "a"]);
  });
});
