/**
 * A child that never ran must say why, naming the command (and its Debian package when it is
 * missing), never "exit undefined" or a bare "failed to start". Real spawns, no mocks.
 */
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ExitCode, MissingToolError, OperationError, exitCodeOf } from "../errors.js";
import { run, spawnStream } from "./process.js";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "backdrill-process-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function failure(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error("expected a failure");
}

/** PATH without rsync: an empty directory only. */
const noRsync = (): Record<string, string> => ({ PATH: dir });

describe("a command that is not installed", () => {
  it("run: one line naming the command and its package, exit 2", async () => {
    const error = await failure(run("rsync", ["--version"], { env: noRsync() }));
    expect(error).toBeInstanceOf(MissingToolError);
    expect(error.message).toBe("rsync not found: install the Debian package rsync (apt-get install rsync)");
    expect(exitCodeOf(error)).toBe(ExitCode.usage);
  });

  it("spawnStream: the same through `done`", async () => {
    const child = spawnStream("ssh-keygen", ["-l"], { env: noRsync() });
    const error = await failure(child.done);
    expect(error).toBeInstanceOf(MissingToolError);
    expect(error.message).toBe(
      "ssh-keygen not found: install the Debian package openssh-client (apt-get install openssh-client)",
    );
  });

  it("a missing absolute path names that path", async () => {
    const missing = path.join(dir, "bin", "pg_dump");
    const error = await failure(run(missing, []));
    expect(error.message).toBe(
      `${missing} not found: install the Debian package postgresql-client (apt-get install postgresql-client)`,
    );
  });
});

describe("other reasons a child never ran", () => {
  it("a missing working directory is named as such, not as a missing command", async () => {
    const cwd = path.join(dir, "gone");
    const error = await failure(run("sh", ["-c", "true"], { cwd, description: "the probe" }));
    expect(error).toBeInstanceOf(OperationError);
    expect(error).not.toBeInstanceOf(MissingToolError);
    expect(error.message).toBe(`the probe failed to start: working directory ${cwd} does not exist`);
  });

  it("a file that is not executable gives the operating system's reason", async () => {
    const file = path.join(dir, "not-executable");
    await writeFile(file, "#!/bin/sh\n");
    await chmod(file, 0o644);
    const error = await failure(run(file, []));
    expect(error).toBeInstanceOf(OperationError);
    expect(error.message).toMatch(/^\S+not-executable failed to start: EACCES \(spawn .*EACCES\)$/);
    const streamed = await failure(spawnStream(file, []).done);
    expect(streamed.message).toMatch(/failed to start: EACCES/);
  });

  it("a command that ran and failed still reports its exit code and stderr", async () => {
    const error = await failure(run("sh", ["-c", "echo broken >&2; exit 3"], { description: "the probe" }));
    expect(error.message).toBe("the probe exited with code 3: broken");
  });
});

describe("never a reason-less message", () => {
  it.each([
    ["run", () => run("no-such-command-h4", [])],
    ["spawnStream", () => spawnStream("no-such-command-h4", []).done],
  ])("%s", async (_name, start) => {
    const error = await failure(start());
    expect(error.message).not.toMatch(/exit undefined|failed to start$/);
    expect(error.message).toBe("no-such-command-h4 not found on PATH: install it, or fix PATH");
  });
});

describe("the child's environment", () => {
  it("holds the allow-listed variables and what the caller passes, none of backdrill's secrets", async () => {
    const { childEnv } = await import("./process.js");
    const env = childEnv(
      { PGPASSWORD: "for-this-child", HOME: undefined },
      {
        PATH: "/usr/bin:/bin",
        HOME: "/root",
        LANG: "C.UTF-8",
        LC_ALL: "C",
        TZ: "UTC",
        DOCKER_HOST: "unix:///run/docker.sock",
        TASK_DB_PASSWORD: "production-secret",
        AWS_SECRET_ACCESS_KEY: "aws-secret",
        BACKDRILL_WEBHOOK_URL: "https://hc-ping.com/key",
        PGPASSWORD: "inherited",
      },
    );
    expect(env).toEqual({
      PATH: "/usr/bin:/bin",
      LANG: "C.UTF-8",
      LC_ALL: "C",
      TZ: "UTC",
      DOCKER_HOST: "unix:///run/docker.sock",
      PGPASSWORD: "for-this-child",
    });
  });

  it("a real child sees no secret of backdrill's environment", async () => {
    process.env.BACKDRILL_TEST_SECRET_ENV = "should-not-leak-4f2a";
    try {
      const result = await run("env", [], { env: { GIVEN: "yes" } });
      expect(result.stdout).toContain("GIVEN=yes");
      expect(result.stdout).not.toContain("should-not-leak-4f2a");
    } finally {
      delete process.env.BACKDRILL_TEST_SECRET_ENV;
    }
  });
});
