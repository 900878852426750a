/**
 * A drill container inside a stack's network (container.ts, `network`): it publishes no port, so
 * its ports are reached through tunnels (tunnel.ts), and the kind's readiness check runs against
 * them once they exist. The container handed back answers getHost()/getMappedPort() with the
 * tunnels, so a kind's own restore and checks run unchanged: a stack changes where a service
 * lives, not how backdrill checks it.
 */
import type { StartedTestContainer } from "testcontainers";
import { BoundPorts } from "testcontainers/build/utils/bound-ports.js";
import { waitForContainer } from "testcontainers/build/wait-strategies/wait-for-container.js";
import type { WaitStrategy } from "testcontainers/build/wait-strategies/wait-strategy.js";
import { OperationError } from "../errors.js";
import type { Scope } from "../lifecycle/scope.js";
import { openTunnel, requireBash, TUNNEL_HOST } from "./tunnel.js";

type Testcontainers = typeof import("testcontainers");

export interface IsolatedOptions {
  image: string;
  what: string;
  scope: Scope;
  ports?: number[] | undefined;
  wait?: ((wait: Testcontainers["Wait"]) => WaitStrategy) | undefined;
  startupTimeoutMs?: number | undefined;
}

/** Names testcontainers resolves to the drill host itself, where the tunnels listen. */
const LOCAL_NAMES = new Set(["localhost", "127.0.0.1", "::1"]);

/** Tunnels to the container's ports, the readiness check through them, and the handle to use. */
export async function reachThroughTunnels(
  started: StartedTestContainer,
  options: IsolatedOptions,
  tc: Testcontainers,
): Promise<StartedTestContainer> {
  const id = started.getId();
  const bound = new BoundPorts();
  const ports = options.ports ?? [];
  if (ports.length > 0) await requireBash(id, options.image, options.what);
  for (const port of ports) bound.setBinding(port, await openTunnel(id, port, options.scope, options.what));
  if (options.wait !== undefined) {
    const client = await tc.getContainerRuntimeClient();
    // testcontainers' port and HTTP checks connect to the host it resolved for the engine; the
    // tunnels listen on this host's loopback, so both must be the same machine.
    const host = client.info.containerRuntime.host;
    if (ports.length > 0 && !LOCAL_NAMES.has(host)) {
      throw new OperationError(
        `${options.what}: a stack drill's tunnels listen on ${TUNNEL_HOST}, but the Docker host resolves to ${host}`,
        {
          hint: "run stack drills on the Docker engine's host, or set TESTCONTAINERS_HOST_OVERRIDE=127.0.0.1",
        },
      );
    }
    const strategy = options.wait(tc.Wait).withStartupTimeout(options.startupTimeoutMs ?? 180_000);
    await waitForContainer(client, client.container.getById(id), strategy, bound);
  }
  return throughTunnels(started, bound);
}

/** The started container, with its ports answered by the tunnels. */
function throughTunnels(started: StartedTestContainer, bound: BoundPorts): StartedTestContainer {
  const overrides: Partial<StartedTestContainer> = {
    getHost: () => TUNNEL_HOST,
    getHostname: () => TUNNEL_HOST,
    getMappedPort: ((port: number | string) =>
      bound.getBinding(port)) as StartedTestContainer["getMappedPort"],
    getFirstMappedPort: () => bound.getFirstBinding(),
  };
  return new Proxy(started, {
    get(target, property, receiver) {
      if (typeof property === "string" && property in overrides) {
        return overrides[property as keyof StartedTestContainer];
      }
      const value: unknown = Reflect.get(target, property, receiver);
      // Methods run on the real object: the proxy is only a different front door.
      return typeof value === "function" ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}
