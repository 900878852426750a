/**
 * How a child ends: stopped on abort, timeout or kill (SIGTERM, then SIGKILL for one that ignores
 * it), killed when backdrill exits, its output collected whole. Real processes, no mocks.
 */
import { spawnSync } from "node:child_process";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { OperationError } from "../errors.js";
import { run, spawnStream } from "./process.js";
import { startChild } from "./child.js";

const env = { PATH: process.env.PATH ?? "/usr/bin:/bin" };
/** A shell that ignores SIGTERM and says when it is ready to be signalled. */
const STUBBORN = "trap '' TERM; echo ready; while :; do sleep 0.05; done";

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function firstLine(stream: NodeJS.ReadableStream): Promise<string> {
  for await (const chunk of stream) return String(chunk).split("\n")[0] ?? "";
  return "";
}

describe("stopping a child", () => {
  it("abort: SIGTERM, and SIGKILL once the grace has passed for a child that ignores it", async () => {
    const controller = new AbortController();
    const child = startChild("sh", ["-c", STUBBORN], {
      env,
      signal: controller.signal,
      killGraceMs: 300,
      stdin: "ignore",
      stdout: "pipe",
      collect: false,
    });
    expect(await firstLine(child.stdout as NodeJS.ReadableStream)).toBe("ready");
    child.stdout?.resume();
    const started = Date.now();
    controller.abort();
    const exit = await child.exit;
    expect(exit).toMatchObject({ signal: "SIGKILL", canceled: true, timedOut: false });
    expect(exit.exitCode).toBeUndefined();
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
  });

  it("an already aborted signal stops the child at once", async () => {
    const child = startChild("sleep", ["30"], {
      env,
      signal: AbortSignal.abort(),
      killGraceMs: 5000,
      stdin: "ignore",
      stdout: "ignore",
      collect: false,
    });
    expect(await child.exit).toMatchObject({ signal: "SIGTERM", canceled: true });
  });

  it("timeout: stopped and marked as timed out", async () => {
    const result = await startChild("sleep", ["30"], {
      env,
      timeoutMs: 100,
      killGraceMs: 5000,
      stdin: "ignore",
      stdout: "ignore",
      collect: false,
    }).exit;
    expect(result).toMatchObject({ signal: "SIGTERM", timedOut: true, canceled: false });
  });

  it("run: a cancelled command fails naming the signal; spawnStream: with the abort's reason", async () => {
    const controller = new AbortController();
    const running = run("sleep", ["30"], { signal: controller.signal, description: "the sleeper" });
    setTimeout(() => controller.abort(new Error("operator pressed Ctrl-C")), 50);
    await expect(running).rejects.toThrow("the sleeper was killed by SIGTERM");

    const second = new AbortController();
    const streaming = spawnStream("sleep", ["30"], { signal: second.signal, stdout: "ignore" });
    second.abort(new Error("operator pressed Ctrl-C"));
    const error = await streaming.done.then(
      () => undefined,
      (failure: unknown) => failure as Error,
    );
    expect(error?.message).toMatch(/was killed by SIGTERM/);
    expect((error?.cause as Error | undefined)?.message).toBe("operator pressed Ctrl-C");
  });

  it("kill(): SIGTERM escalates to SIGKILL after the grace; a finished child is left alone", async () => {
    const streaming = spawnStream("sh", ["-c", STUBBORN], { killGraceMs: 200 });
    expect(await firstLine(streaming.stdout)).toBe("ready");
    streaming.stdout.resume();
    streaming.kill();
    await expect(streaming.done).rejects.toThrow(/was killed by SIGKILL/);
    expect(() => streaming.kill()).not.toThrow();
  });
});

describe("output", () => {
  it("run collects stdout and stderr whole (multi-byte characters across reads intact) and feeds input", async () => {
    const text = "é€😀".repeat(50_000);
    const result = await run("sh", ["-c", "cat; echo to-stderr >&2"], { input: text });
    expect(result.stdout).toBe(text);
    expect(result.stderr).toBe("to-stderr\n");
    expect(result.exitCode).toBe(0);
  });

  it("run: a child without input reads end of file, it does not wait on an open pipe", async () => {
    const result = await run("sh", ["-c", "cat; echo done"], { timeoutMs: 5000 });
    expect(result.stdout).toBe("done\n");
  });

  it("okExitCodes: another status counts as success when the caller says so", async () => {
    await expect(run("sh", ["-c", "exit 24"], { okExitCodes: [0, 24] })).resolves.toMatchObject({
      exitCode: 24,
    });
    await expect(run("sh", ["-c", "exit 24"], { description: "the probe" })).rejects.toThrow(
      "the probe exited with code 24",
    );
  });
});

describe("arguments Node refuses", () => {
  it("a NUL byte in an argument fails like a child that never started, never as a throw", async () => {
    const error = await run("sh", ["-c", "echo a\0b"], { description: "the probe" }).then(
      () => undefined,
      (failure: unknown) => failure as Error,
    );
    expect(error).toBeInstanceOf(OperationError);
    expect(error?.message).toMatch(/^the probe failed to start: ERR_INVALID_ARG_VALUE/);
    let streaming: ReturnType<typeof spawnStream> | undefined;
    expect(() => {
      streaming = spawnStream("sh", ["-c", "cat\0"], { stdin: "pipe" });
    }).not.toThrow();
    await expect(streaming?.done).rejects.toThrow(/failed to start: ERR_INVALID_ARG_VALUE/);
    streaming?.stdin.end("ignored");
    expect(await firstLine(streaming?.stdout as NodeJS.ReadableStream)).toBe("");
  });
});

describe("backdrill exiting", () => {
  it("stops the children still running", () => {
    // A Node process that starts a child through startChild and exits at once: the child must
    // not outlive it (it prints its pid first).
    const childModule = path.join(import.meta.dirname, "child.ts");
    const script = `
      import { startChild } from ${JSON.stringify(childModule)};
      const child = startChild("sh", ["-c", "echo $$; exec sleep 30"], {
        env: { PATH: process.env.PATH }, killGraceMs: 1000, stdin: "ignore", stdout: "pipe", collect: false,
      });
      child.stdout.once("data", (pid) => { process.stdout.write(String(pid)); process.exit(0); });
    `;
    const result = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
      encoding: "utf8",
      timeout: 20_000,
    });
    expect(result.status).toBe(0);
    const pid = Number(result.stdout.trim());
    expect(pid).toBeGreaterThan(0);
    const deadline = Date.now() + 3000;
    while (alive(pid) && Date.now() < deadline) spawnSync("sleep", ["0.05"]);
    expect(alive(pid)).toBe(false);
  });
});
