import { mkdir, mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Scope } from "../lifecycle/scope.js";
import { makePrivateTempDir, sweepDeadTempDirs } from "./private-temp-dir.js";

let parent: string;

beforeAll(async () => {
  parent = await mkdtemp(path.join(tmpdir(), "backdrill-sweep-test-"));
});

afterAll(async () => {
  await rm(parent, { recursive: true, force: true });
});

/** A pid no process has right now (as a SIGKILLed run's pid is once it is gone). */
function deadPid(): number {
  for (let pid = 4_000_000; pid > 1_000; pid -= 1) {
    try {
      process.kill(pid, 0);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ESRCH") return pid;
    }
  }
  throw new Error("no free pid found");
}

describe("private temp dirs", () => {
  it("sweeps only directories of the prefix whose creating process is gone", async () => {
    const dead = deadPid();
    const names = [
      `backdrill-pg-${dead}-aaaaaa`, // a SIGKILLed run's plaintext: goes
      `backdrill-pg-${process.pid}-bbbbbb`, // ours: stays
      `backdrill-pg-1-cccccc`, // a live process (init): stays
      `backdrill-wal-${dead}-dddddd`, // another prefix: stays
      `backdrill-pg-noid`, // not our naming: stays
    ];
    for (const name of names) await mkdir(path.join(parent, name, "sub"), { recursive: true });

    const removed = await sweepDeadTempDirs("backdrill-pg-", parent);

    expect(removed).toEqual([path.join(parent, `backdrill-pg-${dead}-aaaaaa`)]);
    expect((await readdir(parent)).sort()).toEqual(names.slice(1).sort());
  });

  it("creates a 0700 directory named with the pid and removes it when the scope closes", async () => {
    const scope = new Scope();
    const dir = await makePrivateTempDir(scope, "backdrill-sweep-unit-", "test dir");
    expect(path.basename(dir.path).startsWith(`backdrill-sweep-unit-${process.pid}-`)).toBe(true);
    expect((await stat(dir.path)).mode & 0o777).toBe(0o700);
    await scope.close();
    await expect(stat(dir.path)).rejects.toMatchObject({ code: "ENOENT" });
  });
});
