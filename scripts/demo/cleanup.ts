/**
 * Releasing what the demo created, on success, failure and Ctrl-C: a LIFO list of release steps
 * (containers, temp dirs holding age identities), plus a sweep by label for containers whose
 * handle was lost (a start interrupted half-way), and a last-resort synchronous version of the
 * sweep for a second Ctrl-C, when there is no time left for promises.
 */
import { spawnSync } from "node:child_process";
import { rmSync } from "node:fs";
import { execa } from "execa";
import { getContainerRuntimeClient, getReaper } from "testcontainers";
import { DRILL_LABEL } from "../../src/docker/container.js";
import { DEMO_RUN_LABEL } from "./stack.js";

const SESSION_LABEL = "org.testcontainers.session-id";

export class Cleanup {
  private readonly steps: Array<{ what: string; release: () => Promise<void> }> = [];

  /** Adds a release step; steps run in reverse order of registration. */
  defer(what: string, release: () => Promise<void>): void {
    this.steps.push({ what, release });
  }

  /** Runs every step even when some fail; returns the failures (never throws). */
  async run(): Promise<string[]> {
    const failures: string[] = [];
    for (let step = this.steps.pop(); step !== undefined; step = this.steps.pop()) {
      try {
        await step.release();
      } catch (error) {
        failures.push(`${step.what}: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    return failures;
  }
}

/**
 * The Testcontainers session id of this process. Every container this process starts carries it
 * (the drill's containers too), so "drill containers of this run" is a label query that cannot
 * match another engineer's drill running on the same Docker engine.
 */
export async function testcontainersSessionId(): Promise<string> {
  return (await getReaper(await getContainerRuntimeClient())).sessionId;
}

/** `docker ps` filters for this run's containers: the stack's, and drill containers of this process. */
function filterSets(runId: string, sessionId: string | undefined): string[][] {
  const sets = [["--filter", `label=${DEMO_RUN_LABEL}=${runId}`]];
  if (sessionId !== undefined) {
    sets.push(["--filter", `label=${DRILL_LABEL}=true`, "--filter", `label=${SESSION_LABEL}=${sessionId}`]);
  }
  return sets;
}

/** Ids of containers (any state) left by this run. */
export async function leftoverContainers(runId: string, sessionId: string | undefined): Promise<string[]> {
  const ids = new Set<string>();
  for (const filters of filterSets(runId, sessionId)) {
    const { stdout } = await execa("docker", ["ps", "-aq", ...filters]);
    for (const id of stdout.split("\n")) if (id.trim() !== "") ids.add(id.trim());
  }
  return [...ids];
}

/** Force-removes this run's leftover containers; returns how many there were. */
export async function sweepContainers(runId: string, sessionId: string | undefined): Promise<number> {
  const ids = await leftoverContainers(runId, sessionId);
  if (ids.length > 0) await execa("docker", ["rm", "-f", "-v", ...ids], { reject: false });
  return ids.length;
}

/** The same, synchronously, plus the temp dir: for a second Ctrl-C right before the process exits. */
export function emergencyCleanupSync(
  runId: string,
  sessionId: string | undefined,
  tempDir: string | undefined,
): void {
  for (const filters of filterSets(runId, sessionId)) {
    const listed = spawnSync("docker", ["ps", "-aq", ...filters], { encoding: "utf8" });
    const ids = (listed.stdout ?? "").split("\n").filter((id) => id.trim() !== "");
    if (ids.length > 0) spawnSync("docker", ["rm", "-f", "-v", ...ids], { stdio: "ignore" });
  }
  if (tempDir !== undefined) rmSync(tempDir, { recursive: true, force: true });
}
