/**
 * vitest global setup of the integration project: prepares Docker and the test images once per
 * run, and afterwards checks that every test released its containers.
 *
 * Ryuk is disabled (its image cannot be pulled), so nothing else would ever remove a container a
 * test forgot to stop: leftovers are removed here and fail the run, so the leak gets fixed. Only
 * this run's containers are considered (run id label); other runs may share the engine.
 *
 * A missing Docker engine is a failure, never a skip: with CI=true an integration job that skips
 * everything would report green without testing anything, and locally a clear error is more useful.
 */
import { randomUUID } from "node:crypto";
import { configureTestcontainers, listTestContainers, removeContainers, TEST_RUN_ENV } from "./docker.js";
import { prepareTestEnv } from "./test-env.js";

export default async function setup(): Promise<() => Promise<void>> {
  // Set here, in the main process, before vitest forks the workers that inherit process.env.
  configureTestcontainers();
  const runId = randomUUID();
  process.env[TEST_RUN_ENV] = runId;

  try {
    await prepareTestEnv({ log: (line) => console.log(line) });
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    const hint =
      process.env.CI === "true"
        ? ""
        : " Run `npm run test:env` (as root) to set it up, or run `npm run test:unit`.";
    throw new Error(
      `Integration tests need their host tools, a Docker engine and the test images: ${reason}.${hint}`,
    );
  }

  return async function teardown(): Promise<void> {
    const leftovers = await listTestContainers(runId);
    if (leftovers.length === 0) return;
    await removeContainers(leftovers);
    // vitest only logs a teardown error ("error during close") and keeps the exit code of the
    // tests; set it ourselves so the leak fails the run.
    process.exitCode = 1;
    throw new Error(
      `${leftovers.length} test container(s) were still present after the run and have been removed ` +
        `(${leftovers.map((id) => id.slice(0, 12)).join(", ")}): a test is missing a stop() in afterAll/finally.`,
    );
  };
}
