/**
 * Small Docker helpers shared by the test bed: the label every test container carries (Ryuk is
 * disabled because its image cannot be pulled, so we find and remove leftovers by this label),
 * loopback-only port publishing, and a cheap "is an engine answering" probe.
 */
import { execa } from "execa";

export const TEST_LABEL_KEY = "backdrill.test";
export const TEST_LABEL_VALUE = "true";
/** Labels to put on every container the tests start. */
export const TEST_LABELS: Readonly<Record<string, string>> = { [TEST_LABEL_KEY]: TEST_LABEL_VALUE };
/** `docker ps --filter` argument selecting our containers. */
export const TEST_LABEL_FILTER = `label=${TEST_LABEL_KEY}=${TEST_LABEL_VALUE}`;
/**
 * Second label naming the vitest run (set by the global setup), so that one run's leftover check
 * never touches containers of another run sharing the engine (several engineers, one machine).
 */
export const TEST_RUN_LABEL_KEY = "backdrill.test.run";
export const TEST_RUN_ENV = "BACKDRILL_TEST_RUN_ID";

/** Labels for a new test container: the fixed label, plus the run id when one is set. */
export function testLabels(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const runId = env[TEST_RUN_ENV];
  return runId ? { ...TEST_LABELS, [TEST_RUN_LABEL_KEY]: runId } : { ...TEST_LABELS };
}

/** Docker's HostConfig.PortBindings shape ("5432/tcp" -> bindings), as Testcontainers fills it. */
export type PortBindings = Record<string, Array<{ HostIp?: string; HostPort?: string }>>;

/** Address every test port is published on; nothing outside this machine may reach the services. */
export const LOOPBACK = "127.0.0.1";

/**
 * Testcontainers settings the test bed relies on, applied before the first container starts so
 * that code outside vitest (a tsx script, another project's global setup) behaves the same:
 * Ryuk cannot be pulled, and the mapped ports live on 127.0.0.1, not on "localhost" (which may
 * resolve to ::1 first, where nothing listens).
 */
export function configureTestcontainers(env: NodeJS.ProcessEnv = process.env): void {
  env.TESTCONTAINERS_RYUK_DISABLED ??= "true";
  env.TESTCONTAINERS_HOST_OVERRIDE ??= LOOPBACK;
}

/**
 * Rewrites Testcontainers' port bindings so Docker publishes them on 127.0.0.1 only (its default
 * is 0.0.0.0, which would expose test services with well-known passwords to the network).
 */
export function loopbackPortBindings(bindings: PortBindings | undefined): PortBindings {
  const result: PortBindings = {};
  for (const [port, entries] of Object.entries(bindings ?? {})) {
    result[port] = entries.map((entry) => ({ HostIp: LOOPBACK, HostPort: entry.HostPort ?? "0" }));
  }
  return result;
}

/** True when `docker info` answers within a few seconds. */
export async function dockerAvailable(timeoutMs = 10_000): Promise<boolean> {
  const result = await execa("docker", ["info", "--format", "{{.ServerVersion}}"], {
    reject: false,
    timeout: timeoutMs,
  });
  return result.exitCode === 0;
}

/** Ids of all containers (running or not) with the test label; only one run's when runId is given. */
export async function listTestContainers(runId?: string): Promise<string[]> {
  const filters = ["--filter", TEST_LABEL_FILTER];
  if (runId !== undefined) filters.push("--filter", `label=${TEST_RUN_LABEL_KEY}=${runId}`);
  const { stdout } = await execa("docker", ["ps", "-aq", ...filters]);
  return stdout.split("\n").filter((line) => line.trim() !== "");
}

/** Force-removes containers (with their anonymous volumes). */
export async function removeContainers(ids: readonly string[]): Promise<void> {
  if (ids.length === 0) return;
  await execa("docker", ["rm", "-f", "-v", ...ids], { reject: false });
}
