/**
 * Docker volumes a stack drill creates for restored data that the smoke test mounts (a file
 * tree). Labelled like the rest of the stack (stack-network.ts), so a killed run's volumes are
 * swept by the next one, and owned by the operation's scope (removed after its containers).
 */
import { randomBytes } from "node:crypto";
import { OperationError } from "../errors.js";
import type { Scope } from "../lifecycle/scope.js";
import { testcontainers } from "./container.js";

async function dockerode() {
  const { getContainerRuntimeClient } = await testcontainers();
  return (await getContainerRuntimeClient()).container.dockerode;
}

/** Creates a labelled volume owned by `scope`; returns its name. */
export async function createDrillVolume(
  scope: Scope,
  labels: Readonly<Record<string, string>>,
  what: string,
): Promise<string> {
  const name = `backdrill-volume-${randomBytes(6).toString("hex")}`;
  const docker = await dockerode();
  try {
    await docker.createVolume({ Name: name, Labels: { ...labels } });
  } catch (error) {
    throw new OperationError(
      `cannot create the volume for ${what}: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
  scope.defer(`volume ${name} (${what})`, () => removeVolume(name));
  return name;
}

/** Removes a volume; one already gone is fine. */
export async function removeVolume(name: string): Promise<void> {
  const docker = await dockerode();
  try {
    await docker.getVolume(name).remove();
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode !== 404) throw error;
  }
}
