/**
 * Throwaway containers for drills, shared by every engine. Each container:
 *   - publishes its ports on 127.0.0.1 only (never on every interface of the drill host), unless
 *     the drill runs on a remote engine (engine.ts), where they must be reachable from here,
 *   - carries the label `backdrill.drill=true` so leftovers can be found (Ryuk is not used),
 *   - is handed to the operation's Scope the moment Docker creates it, so a container that never
 *     became ready is removed too, on success, failure and Ctrl-C alike.
 *
 * `testcontainers` is loaded on first use, not at import: it costs ~0.7 s and ~40 MiB per process,
 * and every CLI start (a cron backup, each `wal push`) imports the engines, which import this.
 *
 * Testcontainers' reaper (Ryuk) is off unless the operator set TESTCONTAINERS_RYUK_DISABLED
 * themselves: it is one more image to pull (a drill host that reaches no registry failed on it,
 * blaming the drill image), and backdrill already removes its containers through the Scope and
 * finds leftovers by label.
 */
import type { GenericContainer, StartedTestContainer } from "testcontainers";
import type { WaitStrategy } from "testcontainers/build/wait-strategies/wait-strategy.js";
import { OperationError, UsageError } from "../errors.js";
import type { Scope } from "../lifecycle/scope.js";
import type { StackPlacement } from "../kinds/contract.js";
import { currentEngine, LOOPBACK, publishAddress } from "./engine.js";

/** A drill's `pull:` setting (config/drill-schema.ts): whether images may be pulled, and when. */
export type PullPolicy = "never" | "missing" | "always";

export const DRILL_LABEL = "backdrill.drill";
export const DRILL_LABELS: Readonly<Record<string, string>> = { [DRILL_LABEL]: "true" };
export { LOOPBACK };

type Testcontainers = typeof import("testcontainers");
/** testcontainers' `Wait` factory, handed to `wait` callbacks so callers need no import of it. */
export type WaitApi = Testcontainers["Wait"];

let loaded: Promise<Testcontainers> | undefined;
/** testcontainers, loaded on first use (exported for the other docker/ modules). */
export function testcontainers(): Promise<Testcontainers> {
  if (loaded === undefined) {
    configureTestcontainers(process.env);
    loaded = import("testcontainers");
  }
  return loaded;
}

/**
 * Settings testcontainers reads once, set before it loads unless the operator set them:
 *   - the reaper off (see above);
 *   - published ports reached on 127.0.0.1, where they are published. Left alone, testcontainers
 *     running inside a container (a `/.dockerenv` exists: CI runners, a backdrill container with
 *     its own engine) looks for the bridge network's gateway instead, where nothing listens, and
 *     every drill waits out its start-up timeout (CI saw a files drill hang for 180 s).
 */
export function configureTestcontainers(env: NodeJS.ProcessEnv): void {
  env.TESTCONTAINERS_RYUK_DISABLED ??= "true";
  env.TESTCONTAINERS_HOST_OVERRIDE ??= LOOPBACK;
}

/**
 * A GenericContainer that binds published ports to loopback and reports its id on creation. In a
 * stack (`network`), it publishes nothing and joins only the stack's network, under its alias.
 */
async function newDrillContainer(
  image: string,
  onCreated: (id: string) => void,
  network?: StackPlacement,
): Promise<GenericContainer> {
  const { GenericContainer } = await testcontainers();
  class DrillContainer extends GenericContainer {
    protected override async beforeContainerCreated(): Promise<void> {
      // Docker's init (tini) as PID 1: processes left behind by `docker exec` (a tunnel's
      // background cat, a killed psql's children) are re-parented to PID 1, and when that is
      // PostgreSQL's postmaster it takes their death by a signal for a crashed backend and
      // restarts the server in crash recovery ("the database system is in recovery mode")
      // in the middle of a drill's restore or checks.
      this.hostConfig.Init = true;
      if (network !== undefined) {
        // Created on the stack network alone (testcontainers' own aliases would create it on the
        // default bridge first and connect it afterwards: a route out, however briefly).
        this.hostConfig.PortBindings = {};
        this.createOpts.NetworkingConfig = {
          EndpointsConfig: { [network.network]: { Aliases: [network.alias] } },
        };
        return;
      }
      const bindings = this.hostConfig.PortBindings as
        Record<string, Array<{ HostPort?: string }>> | undefined;
      const address = publishAddress(currentEngine());
      const published: Record<string, Array<{ HostIp: string; HostPort: string }>> = {};
      for (const [port, entries] of Object.entries(bindings ?? {})) {
        published[port] = entries.map((entry) => ({ HostIp: address, HostPort: entry.HostPort ?? "0" }));
      }
      this.hostConfig.PortBindings = published;
    }

    protected override async containerCreated(containerId: string): Promise<void> {
      onCreated(containerId);
    }
  }
  const container = new DrillContainer(image).withLabels(DRILL_LABELS);
  if (network !== undefined) container.withNetworkMode(network.network).withLabels(network.labels);
  return container;
}

/** Force-removes a container (and its anonymous volumes); a container already gone is fine. */
export async function removeContainer(id: string): Promise<void> {
  const { getContainerRuntimeClient } = await testcontainers();
  const client = await getContainerRuntimeClient();
  try {
    await client.container.getById(id).remove({ force: true, v: true });
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode !== 404) throw error;
  }
}

export interface StartDrillContainerOptions {
  image: string;
  /** For messages and the scope's release list, e.g. "drill RabbitMQ". */
  what: string;
  scope: Scope;
  signal: AbortSignal;
  env?: Record<string, string>;
  ports?: number[];
  command?: string[];
  /** Readiness check, built from testcontainers' `Wait` (e.g. `(wait) => wait.forHealthCheck()`). */
  wait?: (wait: WaitApi) => WaitStrategy;
  startupTimeoutMs?: number;
  /** Further configuration of the container before start (health checks, tmpfs, ...). */
  configure?: (container: GenericContainer) => void;
  /**
   * The drill's `pull:` setting. `never` (the default): an image that is not on the host fails
   * with one line naming it, nothing is pulled; `missing`: pulled when absent; `always`: pulled.
   */
  pull?: PullPolicy;
  /**
   * A stack drill's placement (DrillContext.stack): the container joins only that network and
   * publishes nothing; `ports` are then reached through tunnels over the Docker API (isolated.ts),
   * so getHost()/getMappedPort() keep working for the kind's own checks.
   */
  network?: StackPlacement | undefined;
}

/** Starts a labelled, loopback-only container owned by `scope`; a clear error if it cannot. */
export async function startDrillContainer(
  options: StartDrillContainerOptions,
): Promise<StartedTestContainer> {
  options.signal.throwIfAborted();
  const container = await newDrillContainer(
    options.image,
    (id) => {
      // Owned by the scope the moment Docker creates it, so a container that never became ready goes too.
      options.scope.defer(`${options.what} (container ${id.slice(0, 12)})`, () => removeContainer(id));
    },
    options.network,
  );
  const isolated = options.network !== undefined;
  if (options.env !== undefined) container.withEnvironment(options.env);
  // In a stack the ports are tunnelled and waited for after the start (isolated.ts).
  if (options.ports !== undefined && !isolated) container.withExposedPorts(...options.ports);
  if (options.command !== undefined) container.withCommand(options.command);
  if (options.wait !== undefined && !isolated)
    container.withWaitStrategy(options.wait((await testcontainers()).Wait));
  container.withStartupTimeout(options.startupTimeoutMs ?? 180_000);
  options.configure?.(container);
  const pull = options.pull ?? "never";
  if (pull === "never" && (await imagePresent(options.image)) === false) {
    throw missingImageError(options.image, `drill image ${options.image}`, "never");
  }
  if (pull === "always") container.withPullPolicy((await testcontainers()).PullPolicy.alwaysPull());
  let started: StartedTestContainer;
  try {
    started = await container.start();
    if (isolated) {
      // Loaded with testcontainers (isolated.ts imports parts of it), not at start-up.
      const { reachThroughTunnels } = await import("./isolated.js");
      started = await reachThroughTunnels(started, options, await testcontainers());
    }
  } catch (error) {
    throw await startFailure(options, error);
  }
  options.signal.throwIfAborted();
  return started;
}

/**
 * One line saying why a drill container did not start, blaming the right thing: an image that is
 * not on the host (and could not be pulled) is named with the ways to get it; a reaper the
 * operator turned on and whose image is missing is named as the reaper, not as the drill image.
 */
async function startFailure(options: StartDrillContainerOptions, error: unknown): Promise<OperationError> {
  const detail = (error instanceof Error ? error.message : String(error)).replace(/\s*\n\s*/g, " ").trim();
  const drillImage = await imagePresent(options.image);
  if (drillImage === false) {
    return missingImageError(
      options.image,
      `drill image ${options.image}`,
      options.pull ?? "never",
      detail,
      error,
    );
  }
  // Testcontainers starts its reaper before the first container; its pull failing reads like the
  // drill image's (an HTTP 500 from the registry), so look at the reaper's image too.
  const reaper = process.env.TESTCONTAINERS_RYUK_DISABLED;
  if (reaper !== "true") {
    const { REAPER_IMAGE } = await import("testcontainers/build/reaper/reaper.js");
    if ((await imagePresent(REAPER_IMAGE)) === false) {
      return new OperationError(
        `cannot start Testcontainers' reaper, image ${REAPER_IMAGE}, which TESTCONTAINERS_RYUK_DISABLED=${reaper ?? ""} ` +
          `turned on: ${detail} (unset TESTCONTAINERS_RYUK_DISABLED: backdrill removes its drill containers ` +
          `itself; or docker pull ${REAPER_IMAGE})`,
        { cause: error },
      );
    }
  }
  return new OperationError(`cannot start ${options.what} from image ${options.image}: ${detail}`, {
    cause: error,
    hint: "check that Docker is running (docker info) and the container's logs (docker logs)",
  });
}

/**
 * One line for an image that is not on this host: what needs it, and the ways to get it there.
 * With `pull: never` nothing was tried; otherwise the pull failed (`detail` says why).
 */
export function missingImageError(
  image: string,
  what: string,
  pull: PullPolicy,
  detail?: string,
  cause?: unknown,
): OperationError {
  const why =
    pull === "never"
      ? "(backdrill does not pull it: pull: never)"
      : `and could not be pulled (${detail ?? "pull failed"})`;
  return new OperationError(
    `${what} is not on this host ${why}: docker pull ${image}, or build it here ` +
      `(docker build -t ${image} DIR) or copy it from another host (docker save there, docker load here)` +
      (pull === "never" ? "; or set pull: missing in the drill" : ""),
    { cause },
  );
}

/** Whether the engine has the image; undefined when it cannot be asked (then nothing is blamed on it). */
export async function imagePresent(image: string): Promise<boolean | undefined> {
  try {
    const { getContainerRuntimeClient, ImageName } = await testcontainers();
    return await (await getContainerRuntimeClient()).image.exists(ImageName.fromString(image));
  } catch {
    return undefined;
  }
}

/** The drill target's image, or a usage error naming the job and an example image. */
export function requireDrillImage(
  target: { image?: string | undefined },
  job: string,
  example: string,
): string {
  if (target.image === undefined) {
    throw new UsageError(`drill target for job ${job} needs an image (e.g. image: ${example})`);
  }
  return target.image;
}
