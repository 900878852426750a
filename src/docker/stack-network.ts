/**
 * A stack drill's network: one new Docker bridge network per run, with no route out.
 *
 *   internal: true                          Docker adds no NAT and drops forwarding to and from
 *                                           other networks: nothing reaches the internet;
 *   com.docker.network.bridge.inhibit_ipv4  the drill host gets no address on the bridge. Without
 *                                           it, `internal` still leaves the bridge's gateway
 *                                           address on the host, and a container reaches every
 *                                           service the host listens on (0.0.0.0:22, ...)
 *                                           through it (seen on Docker 20.10);
 *   no IPv6                                 nothing to route.
 *
 * Everything of the stack (network, containers, volumes) carries the owner label
 * `backdrill.stack.owner=<host>:<pid>`, so a run that was SIGKILLed is swept by the next one
 * (stack-sweep.ts), and `backdrill.stack=<network>` naming the stack it belongs to.
 */
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { OperationError } from "../errors.js";
import type { Scope } from "../lifecycle/scope.js";
import { DRILL_LABEL, testcontainers } from "./container.js";

export const STACK_LABEL = "backdrill.stack";
export const STACK_OWNER_LABEL = "backdrill.stack.owner";
export const INHIBIT_IPV4 = "com.docker.network.bridge.inhibit_ipv4";

export interface StackNetwork {
  name: string;
  id: string;
  /** For everything created for this stack: the sweep finds a killed run's leftovers by them. */
  labels: Readonly<Record<string, string>>;
}

/** `<host>:<pid>` of this process: what the sweep checks for liveness. */
export function stackOwner(): string {
  return `${hostname()}:${process.pid}`;
}

/** Docker network names allow [a-zA-Z0-9][a-zA-Z0-9_.-]; drill names are a subset. */
function networkName(drill: string): string {
  return `backdrill-stack-${drill.slice(0, 40)}-${randomBytes(3).toString("hex")}`;
}

async function dockerode() {
  const { getContainerRuntimeClient } = await testcontainers();
  return (await getContainerRuntimeClient()).container.dockerode;
}

/** Creates the stack's network, owned by `scope` (removed when it closes, after its containers). */
export async function createStackNetwork(scope: Scope, drill: string): Promise<StackNetwork> {
  const name = networkName(drill);
  const labels = { [DRILL_LABEL]: "true", [STACK_LABEL]: name, [STACK_OWNER_LABEL]: stackOwner() };
  const docker = await dockerode();
  let id: string;
  try {
    const network = await docker.createNetwork({
      Name: name,
      Driver: "bridge",
      Internal: true,
      EnableIPv6: false,
      CheckDuplicate: true,
      Labels: labels,
      Options: { [INHIBIT_IPV4]: "true" },
    });
    id = network.id;
  } catch (error) {
    throw new OperationError(
      `cannot create the stack's network ${name}: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error, hint: "check that Docker is running (docker info)" },
    );
  }
  scope.defer(`stack network ${name}`, () => removeNetwork(id));
  return { name, id, labels };
}

/** Removes a network; one already gone is fine. */
export async function removeNetwork(id: string): Promise<void> {
  const docker = await dockerode();
  try {
    await docker.getNetwork(id).remove();
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode !== 404) throw error;
  }
}

export interface AttachedContainer {
  id: string;
  name: string;
  /** Its aliases on the stack network. */
  aliases: string[];
  /** Every network it is attached to (the stack's alone, when isolated). */
  networks: string[];
  /** Host ports it publishes (none, when isolated). */
  publishedPorts: number;
}

export interface NetworkEvidence {
  internal: boolean;
  /** The drill host has no address on the network's bridge. */
  hostAddressInhibited: boolean;
  containers: AttachedContainer[];
}

/** What Docker says about the network and everything attached to it (the isolation check). */
export async function inspectStackNetwork(network: StackNetwork): Promise<NetworkEvidence> {
  const docker = await dockerode();
  const info = (await docker.getNetwork(network.id).inspect()) as {
    Internal?: boolean;
    Options?: Record<string, string>;
    Containers?: Record<string, unknown>;
  };
  const containers: AttachedContainer[] = [];
  for (const id of Object.keys(info.Containers ?? {})) {
    const inspected = await docker.getContainer(id).inspect();
    const networks = inspected.NetworkSettings.Networks ?? {};
    const bindings = (inspected.HostConfig.PortBindings ?? {}) as Record<string, unknown[] | null>;
    containers.push({
      id,
      name: inspected.Name.replace(/^\//, ""),
      aliases: networks[network.name]?.Aliases ?? [],
      networks: Object.keys(networks),
      publishedPorts: Object.values(bindings).reduce((sum, list) => sum + (list?.length ?? 0), 0),
    });
  }
  return {
    internal: info.Internal === true,
    hostAddressInhibited: info.Options?.[INHIBIT_IPV4] === "true",
    containers,
  };
}
