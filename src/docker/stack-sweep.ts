/**
 * Leftovers of stack drills that were killed (SIGKILL, OOM, a power cut): their containers,
 * networks and volumes carry `backdrill.stack.owner=<host>:<pid>` (stack-network.ts). Every stack
 * drill first removes those whose process is gone on this host, as the PostgreSQL tool containers
 * are swept (kinds/postgres/tools.ts). A pid reused by an unrelated live process only delays the
 * sweep; another host's leftovers (a shared engine) are never touched.
 */
import { hostname } from "node:os";
import { isPidAlive } from "../lifecycle/pid.js";
import { removeContainer, testcontainers } from "./container.js";
import { removeNetwork, STACK_OWNER_LABEL } from "./stack-network.js";
import { removeVolume } from "./volume.js";

export interface SweptStack {
  containers: number;
  networks: number;
  volumes: number;
}

/** Whether an owner label names a dead process of this host. */
export function ownerIsDead(owner: string | undefined, host = hostname()): boolean {
  if (owner === undefined) return false;
  const separator = owner.lastIndexOf(":");
  if (separator <= 0 || owner.slice(0, separator) !== host) return false;
  const pid = Number(owner.slice(separator + 1));
  if (!Number.isSafeInteger(pid) || pid <= 0 || pid === process.pid) return false;
  return !isPidAlive(pid);
}

/** Removes dead stack drills' containers, then their networks, then their volumes. */
export async function sweepDeadStacks(): Promise<SweptStack> {
  const { getContainerRuntimeClient } = await testcontainers();
  const docker = (await getContainerRuntimeClient()).container.dockerode;
  const filters = { label: [STACK_OWNER_LABEL] };
  const swept: SweptStack = { containers: 0, networks: 0, volumes: 0 };
  for (const container of await docker.listContainers({ all: true, filters })) {
    if (!ownerIsDead(container.Labels[STACK_OWNER_LABEL])) continue;
    await removeContainer(container.Id);
    swept.containers += 1;
  }
  for (const network of await docker.listNetworks({ filters })) {
    if (!ownerIsDead(network.Labels?.[STACK_OWNER_LABEL])) continue;
    await removeNetwork(network.Id);
    swept.networks += 1;
  }
  const { Volumes: volumes } = await docker.listVolumes({ filters });
  for (const volume of volumes ?? []) {
    if (!ownerIsDead(volume.Labels?.[STACK_OWNER_LABEL])) continue;
    await removeVolume(volume.Name);
    swept.volumes += 1;
  }
  return swept;
}
