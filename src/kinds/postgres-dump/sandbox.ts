/**
 * The drill's throwaway PostgreSQL server: a container of the drill target's image (any image
 * honouring the official image's contract: POSTGRES_USER / POSTGRES_PASSWORD / POSTGRES_DB,
 * pg_isready), published on 127.0.0.1 only (on a remote engine: its host, docker/engine.ts), labelled `backdrill.drill=true` so leftovers can be
 * found (Ryuk is not available), and owned by the operation's scope from the moment Docker
 * creates it: a container that never became healthy is removed too.
 *
 * The bootstrap superuser gets a name no production cluster uses, so restoring the globals
 * (which may CREATE/ALTER a role called `postgres`) can never change the credentials we use.
 * Durability settings are left at their defaults on purpose: the drill's restore time is an
 * estimate of the real recovery time, and fsync=off would flatter it.
 */
import { randomBytes } from "node:crypto";
import { startDrillContainer } from "../../docker/container.js";
import type { Scope } from "../../lifecycle/scope.js";
import type { StackPlacement } from "../contract.js";
import { registerSecret } from "../../log/redact.js";
import { connectClient, type PgEndpoint } from "../postgres/connection.js";
import type { PullPolicy } from "../../docker/container.js";
import { run } from "../../exec/process.js";
import { PSQL_SCRIPT_ARGS, type PsqlScriptRunner } from "./load.js";

export const SANDBOX_SUPERUSER = "backdrill_drill";
/** The server's port inside the sandbox container. */
export const SANDBOX_PORT = 5432;
export const POSTGRES_PORT = SANDBOX_PORT;
const STARTUP_TIMEOUT_MS = 180_000;
const SHM_BYTES = 512 * 1024 * 1024;

export interface Sandbox {
  /** Superuser endpoint on the engine's address (127.0.0.1 locally):<mapped port>. */
  endpoint: PgEndpoint;
  containerId: string;
  image: string;
}

export async function startSandbox(
  image: string,
  scope: Scope,
  signal: AbortSignal,
  pull: PullPolicy = "never",
  network?: StackPlacement,
): Promise<Sandbox> {
  const password = randomBytes(18).toString("base64url");
  registerSecret(password);
  const started = await startDrillContainer({
    image,
    what: "drill PostgreSQL",
    scope,
    pull,
    signal,
    env: { POSTGRES_USER: SANDBOX_SUPERUSER, POSTGRES_PASSWORD: password, POSTGRES_DB: "postgres" },
    ports: [POSTGRES_PORT],
    network,
    // During initialisation the entrypoint's temporary server listens on the Unix socket only,
    // so a TCP pg_isready turns healthy only once the real server is up.
    wait: (wait) => wait.forHealthCheck(),
    startupTimeoutMs: STARTUP_TIMEOUT_MS,
    configure: (container) => {
      container.withSharedMemorySize(SHM_BYTES).withHealthCheck({
        test: ["CMD-SHELL", `pg_isready --host 127.0.0.1 --username ${SANDBOX_SUPERUSER} --dbname postgres`],
        interval: 500,
        timeout: 2000,
        retries: 600,
      });
    },
  });
  signal.throwIfAborted();
  const endpoint: PgEndpoint = {
    // The engine's address (loopback, or a remote engine's host: docker/engine.ts).
    host: started.getHost(),
    port: started.getMappedPort(POSTGRES_PORT),
    user: SANDBOX_SUPERUSER,
    password,
    sslmode: "disable",
    database: "postgres",
  };
  // Healthy means accepting connections; one real login proves the password took.
  const client = await connectClient(endpoint, "postgres");
  await client.end();
  return { endpoint, containerId: started.getId(), image };
}

/**
 * psql inside the sandbox container (`docker exec`), over its own loopback as the sandbox
 * superuser: scripts from a snapshot (the globals) never run a client on the drill host or with
 * any network but the sandbox's. The password is the sandbox's throwaway one, passed by name.
 */
export function psqlInSandbox(sandbox: Sandbox, signal: AbortSignal): PsqlScriptRunner {
  return (sql, description) =>
    run(
      "docker",
      [
        "exec",
        "-i",
        "-e",
        "PGPASSWORD",
        sandbox.containerId,
        "psql",
        "-h",
        "127.0.0.1",
        "-p",
        String(SANDBOX_PORT),
        "-U",
        SANDBOX_SUPERUSER,
        "-d",
        "postgres",
        ...PSQL_SCRIPT_ARGS,
      ],
      { env: { PGPASSWORD: sandbox.endpoint.password ?? "" }, input: sql, signal, description },
    );
}
