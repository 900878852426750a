import { hostname } from "node:os";
import { describe, expect, it } from "vitest";
import { isPidAlive } from "../lifecycle/pid.js";
import { ownerIsDead } from "./stack-sweep.js";

/** Some pid no process has right now. */
function deadPid(): number {
  for (let pid = 4_000_000; pid > 1000; pid -= 7919) if (!isPidAlive(pid)) return pid;
  throw new Error("no free pid found");
}

describe("which stack leftovers the sweep removes", () => {
  it("only a dead process's of this host", () => {
    const dead = deadPid();
    expect(ownerIsDead(`${hostname()}:${dead}`)).toBe(true);
    expect(ownerIsDead(`${hostname()}:${process.pid}`)).toBe(false);
    expect(ownerIsDead(`${hostname()}:${process.ppid}`)).toBe(false);
    expect(ownerIsDead(`another-host:${dead}`)).toBe(false);
    expect(ownerIsDead(undefined)).toBe(false);
    expect(ownerIsDead("garbage")).toBe(false);
    expect(ownerIsDead(`${hostname()}:-1`)).toBe(false);
  });
});
