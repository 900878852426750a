/**
 * The drill's throwaway PostgreSQL server: a container of the drill target's image (any image
 * honouring the official image's contract: POSTGRES_USER / POSTGRES_PASSWORD / POSTGRES_DB,
 * pg_isready), published on 127.0.0.1 only, labelled `backdrill.drill=true` so leftovers can be
 * found (Ryuk is not available), and owned by the operation's scope from the moment Docker
 * creates it: a container that never became healthy is removed too.
 *
 * The bootstrap superuser gets a name no production cluster uses, so restoring the globals
 * (which may CREATE/ALTER a role called `postgres`) can never change the credentials we use.
 * Durability settings are left at their defaults on purpose: the drill's restore time is an
 * estimate of the real recovery time, and fsync=off would flatter it.
 */
import { randomBytes } from "node:crypto";
import { GenericContainer, Wait, getContainerRuntimeClient, type StartedTestContainer } from "testcontainers";
import { OperationError } from "../../errors.js";
import type { Scope } from "../../lifecycle/scope.js";
import { registerSecret } from "../../log/redact.js";
import { connectClient, errorText, type PgEndpoint } from "./connection.js";

export const DRILL_LABELS: Readonly<Record<string, string>> = { "backdrill.drill": "true" };
export const SANDBOX_SUPERUSER = "backdrill_drill";
const POSTGRES_PORT = 5432;
const LOOPBACK = "127.0.0.1";
const STARTUP_TIMEOUT_MS = 180_000;
const SHM_BYTES = 512 * 1024 * 1024;

export interface Sandbox {
  /** Superuser endpoint on 127.0.0.1:<mapped port>. */
  endpoint: PgEndpoint;
  containerId: string;
  image: string;
}

/** Publishes ports on 127.0.0.1 only and hands the container to the scope as soon as it exists. */
class SandboxContainer extends GenericContainer {
  constructor(
    image: string,
    private readonly onCreated: (id: string) => void,
  ) {
    super(image);
  }

  protected override async beforeContainerCreated(): Promise<void> {
    const bindings = this.hostConfig.PortBindings as Record<string, Array<{ HostPort?: string }>> | undefined;
    const loopback: Record<string, Array<{ HostIp: string; HostPort: string }>> = {};
    for (const [port, entries] of Object.entries(bindings ?? {})) {
      loopback[port] = entries.map((entry) => ({ HostIp: LOOPBACK, HostPort: entry.HostPort ?? "0" }));
    }
    this.hostConfig.PortBindings = loopback;
  }

  protected override async containerCreated(containerId: string): Promise<void> {
    this.onCreated(containerId);
  }
}

async function removeContainer(id: string): Promise<void> {
  const client = await getContainerRuntimeClient();
  try {
    await client.container.getById(id).remove({ force: true, v: true });
  } catch (error) {
    // Already gone (removed by hand, or never fully created): nothing left to release.
    if ((error as { statusCode?: number }).statusCode !== 404) throw error;
  }
}

export async function startSandbox(image: string, scope: Scope, signal: AbortSignal): Promise<Sandbox> {
  const password = randomBytes(18).toString("base64url");
  registerSecret(password);
  let containerId: string | undefined;
  const container = new SandboxContainer(image, (id) => {
    containerId = id;
    scope.defer(`drill container ${id.slice(0, 12)} (${image})`, () => removeContainer(id));
  })
    .withEnvironment({
      POSTGRES_USER: SANDBOX_SUPERUSER,
      POSTGRES_PASSWORD: password,
      POSTGRES_DB: "postgres",
    })
    .withExposedPorts(POSTGRES_PORT)
    .withLabels(DRILL_LABELS)
    .withSharedMemorySize(SHM_BYTES)
    // During initialisation the entrypoint's temporary server listens on the Unix socket only,
    // so a TCP pg_isready turns healthy only once the real server is up.
    .withHealthCheck({
      test: ["CMD-SHELL", `pg_isready --host 127.0.0.1 --username ${SANDBOX_SUPERUSER} --dbname postgres`],
      interval: 500,
      timeout: 2000,
      retries: 600,
    })
    .withWaitStrategy(Wait.forHealthCheck())
    .withStartupTimeout(STARTUP_TIMEOUT_MS);

  let started: StartedTestContainer;
  try {
    started = await container.start();
  } catch (error) {
    throw new OperationError(`cannot start a drill container from image ${image}: ${errorText(error)}`, {
      cause: error,
    });
  }
  signal.throwIfAborted();
  const endpoint: PgEndpoint = {
    host: LOOPBACK,
    port: started.getMappedPort(POSTGRES_PORT),
    user: SANDBOX_SUPERUSER,
    password,
    sslmode: "disable",
    database: "postgres",
  };
  // Healthy means accepting connections; one real login proves the password took.
  const client = await connectClient(endpoint, "postgres");
  await client.end();
  return { endpoint, containerId: containerId ?? started.getId(), image };
}
