/**
 * The container a stack drill's smoke test runs in: the application's image on the stack's
 * network (alone, like every container of the stack: container.ts with `network`), its restored
 * secret files in a tmpfs and its data volumes mounted read-only.
 *
 * Secret files (a Symfony vault and its key) never touch the drill host's disk: the kind holds them
 * in memory, and they are streamed with `docker exec -i ... cat` into a tmpfs of this container
 * (its memory, gone with it). Env vars would not do for them: Docker keeps a container's
 * environment in its config on disk and shows it to `docker inspect`.
 *
 * The container starts with a small sh wrapper that waits until the files are in place, then execs
 * the smoke test's argv; so the image needs sh (and cat, mkdir, dirname), and its own entrypoint is
 * replaced: `command` is the whole argv (default: the image's entrypoint and command).
 */
import type { StartedTestContainer } from "testcontainers";
import { OperationError } from "../errors.js";
import { run } from "../exec/process.js";
import type { Scope } from "../lifecycle/scope.js";
import type { StackPlacement } from "../kinds/contract.js";
import { startDrillContainer, testcontainers } from "./container.js";

export interface SmokeContainerOptions {
  image: string;
  /** The argv to run; undefined: the image's entrypoint and command. */
  command: string[] | undefined;
  env: Record<string, string>;
  network: StackPlacement;
  /** Where the tmpfs for secret files is mounted (also holds the start signal). */
  tmpfs: string;
  mounts: ReadonlyArray<{ volume: string; target: string }>;
  /** A port to reach through a tunnel (an http smoke test); the image then needs bash. */
  port?: number | undefined;
  scope: Scope;
  signal: AbortSignal;
}

export interface SmokeContainer {
  id: string;
  /** The local port of the tunnel to `port`. */
  localPort: number | undefined;
  /** Writes a file into the container (0600 in a 0700 directory), from memory. */
  writeFile(path: string, data: Buffer): Promise<void>;
  /** Lets the wrapper exec the smoke test's argv. */
  go(): Promise<void>;
  /** Its exit code, or null when it is still running after `timeoutMs`. */
  waitExit(timeoutMs: number, signal: AbortSignal): Promise<number | null>;
  running(): Promise<boolean>;
  /** The last lines of its output. */
  logs(): Promise<{ stdout: string; stderr: string }>;
}

const READY = ".ready";
const WRAPPER = (tmpfs: string) => `while [ ! -e ${tmpfs}/${READY} ]; do sleep 0.1; done; exec "$@"`;

async function dockerode() {
  const { getContainerRuntimeClient } = await testcontainers();
  return (await getContainerRuntimeClient()).container.dockerode;
}

/** The image's entrypoint + command, pulled first if it is not on the host. */
async function imageArgv(image: string): Promise<string[]> {
  const { getContainerRuntimeClient, ImageName } = await testcontainers();
  const client = await getContainerRuntimeClient();
  if (!(await client.image.exists(ImageName.fromString(image)))) {
    await client.image.pull(ImageName.fromString(image));
  }
  const config = (await client.container.dockerode.getImage(image).inspect()).Config;
  const argv = [...(config.Entrypoint ?? []), ...(config.Cmd ?? [])];
  if (argv.length === 0) {
    throw new OperationError(
      `smoke test image ${image} has no entrypoint or command: set stack.smokeTest.command`,
    );
  }
  return argv;
}

export async function startSmokeContainer(options: SmokeContainerOptions): Promise<SmokeContainer> {
  const argv = options.command ?? (await imageArgv(options.image));
  const started: StartedTestContainer = await startDrillContainer({
    image: options.image,
    what: "stack smoke test",
    scope: options.scope,
    signal: options.signal,
    env: options.env,
    network: options.network,
    command: argv,
    ...(options.port === undefined ? {} : { ports: [options.port] }),
    configure: (builder) => {
      builder
        .withEntrypoint(["sh", "-c", WRAPPER(options.tmpfs), "backdrill-smoke"])
        .withTmpFs({ [options.tmpfs]: "rw,nosuid,nodev,size=16m,mode=1777" })
        // Raw sockets are the one way around the network's rules a container has by default.
        .withDroppedCapabilities("NET_RAW");
      if (options.mounts.length > 0) {
        builder.withBindMounts(
          options.mounts.map((mount) => ({ source: mount.volume, target: mount.target, mode: "ro" })),
        );
      }
    },
  });
  const id = started.getId();
  const exec = (args: string[], input?: Buffer) =>
    run("docker", ["exec", ...(input === undefined ? [] : ["-i"]), id, ...args], {
      ...(input === undefined ? {} : { input }),
      signal: options.signal,
      description: "docker exec in the smoke test container",
    });
  return {
    id,
    localPort: options.port === undefined ? undefined : started.getMappedPort(options.port),
    async writeFile(path, data) {
      await exec(
        ["sh", "-c", 'umask 077 && mkdir -p "$(dirname "$1")" && cat > "$1"', "backdrill-write", path],
        data,
      );
    },
    async go() {
      await exec(["sh", "-c", `: > ${options.tmpfs}/${READY}`]);
    },
    async waitExit(timeoutMs, signal) {
      const container = (await dockerode()).getContainer(id);
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<null>((resolve) => {
        timer = setTimeout(() => resolve(null), timeoutMs);
      });
      let onAbort: (() => void) | undefined;
      const aborted = new Promise<never>((_, reject) => {
        onAbort = () => reject(signal.reason);
        signal.addEventListener("abort", onAbort, { once: true });
      });
      try {
        signal.throwIfAborted();
        const result = await Promise.race([
          container.wait() as Promise<{ StatusCode: number }>,
          timeout,
          aborted,
        ]);
        return result === null ? null : result.StatusCode;
      } finally {
        clearTimeout(timer);
        if (onAbort !== undefined) signal.removeEventListener("abort", onAbort);
      }
    },
    async running() {
      const info = await (await dockerode()).getContainer(id).inspect();
      return info.State.Running;
    },
    async logs() {
      const result = await run("docker", ["logs", "--tail", "400", id], { okExitCodes: [0, 1] });
      return { stdout: result.stdout, stderr: result.stderr };
    },
  };
}
