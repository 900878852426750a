import { availableParallelism } from "node:os";
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          // Pure logic: no Docker, no network; runs anywhere, including under Node 24 in CI.
          name: "unit",
          include: ["src/**/*.test.ts", "test/unit/**/*.test.ts"],
          // One worker per core. vitest's default is one fewer: on CI's two cores that is one file at
          // a time and an idle core for the whole unit run (pure CPU, about a third of it imports).
          maxWorkers: availableParallelism(),
          // A few files start the CLI as a child process (tsx, loader hooks); under Node 24 in CI
          // they run beside the quick start's container build and took over vitest's 5 s default
          // (cli-startup, stop 29). The timeout only guards against a hang; 30 s says the same.
          testTimeout: 30_000,
          // Projects with different worker limits need their own group: unit first, it is fast.
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          name: "integration",
          include: ["test/integration/**/*.test.ts", "test/conformance/**/*.test.ts"],
          // Engine + locally built images once per run; leftover containers fail the run.
          globalSetup: ["test/support/global-setup.ts"],
          testTimeout: 180_000,
          hookTimeout: 600_000,
          // Each file starts real servers (PostgreSQL, RabbitMQ, ...); on two cores more than two
          // files at once only makes every startup slower and timeouts flaky.
          maxWorkers: 2,
          sequence: { groupOrder: 1 },
        },
      },
      {
        test: {
          // Fault injection (`npm run test:faults`): SIGKILLed runs, S3 outages, a full disk,
          // corrupted artifacts, services down. Slow by design (20+ trials per kind), so it is
          // its own command; CI runs it after `npm test`.
          name: "faults",
          include: ["test/faults/**/*.test.ts"],
          globalSetup: ["test/support/global-setup.ts"],
          testTimeout: 600_000,
          hookTimeout: 600_000,
          maxWorkers: 2,
          sequence: { groupOrder: 2 },
        },
      },
      {
        test: {
          // `npm run test:quickstart`: the README's quick-start line in a fresh Debian container
          // with only nodejs and npm (test/quickstart/). Its own command: it runs the whole demo.
          name: "quickstart",
          include: ["test/quickstart/**/*.test.ts"],
          globalSetup: ["test/support/global-setup.ts"],
          testTimeout: 600_000,
          hookTimeout: 40 * 60_000,
          sequence: { groupOrder: 3 },
        },
      },
    ],
  },
});
