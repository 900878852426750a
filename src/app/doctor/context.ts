/**
 * What every doctor check builder gets: the config, the environment, the time bound, and facts
 * shared between checks (one repository handle per policy, one `docker version`, one
 * `docker image inspect` per image), each computed at most once.
 */
import { openRepository } from "../../repository/open.js";
import type { Config, LoadedPolicy } from "../../config/types.js";
import { run } from "../../exec/process.js";
import type { Scope } from "../../lifecycle/scope.js";
import type { Repository } from "../../repository/repository.js";
import { boundedSignal, shared } from "../../preflight/runner.js";

export interface DoctorContext {
  config: Config;
  env: NodeJS.ProcessEnv;
  timeoutMs: number;
  signal: AbortSignal | undefined;
  /** Owns tool containers started by version probes. */
  scope: Scope;
  repository(policy: LoadedPolicy): Promise<Repository>;
  /** The Docker engine's version; rejects when the CLI or the engine does not answer. */
  dockerVersion(): Promise<string>;
  /** Whether `image` is present in the local engine (never pulls). */
  imagePresent(image: string): Promise<boolean>;
}

export function createDoctorContext(options: {
  config: Config;
  env: NodeJS.ProcessEnv;
  timeoutMs: number;
  signal: AbortSignal | undefined;
  scope: Scope;
}): DoctorContext {
  const bound = { timeoutMs: options.timeoutMs, signal: options.signal };
  const repositories = new Map<string, () => Promise<Repository>>();
  const images = new Map<string, () => Promise<boolean>>();
  const dockerVersion = shared(async (signal) => {
    const result = await run("docker", ["version", "--format", "{{.Server.Version}}"], {
      signal,
      description: "docker version",
    });
    return result.stdout.trim();
  }, bound);
  return {
    ...options,
    repository(policy) {
      let open = repositories.get(policy.policy.name);
      if (open === undefined) {
        open = shared(async () => {
          const repository = await openRepository(policy, options.env);
          // Backends hold sockets (S3); closed with the scope when doctor ends.
          options.scope.defer(`repository ${repository.location}`, () => repository.backend.close());
          return repository;
        }, bound);
        repositories.set(policy.policy.name, open);
      }
      return open();
    },
    dockerVersion,
    imagePresent(image) {
      let inspect = images.get(image);
      if (inspect === undefined) {
        inspect = shared(async (signal) => {
          // Exit 1 is docker's "No such image"; anything else (engine down) is an error.
          const result = await run("docker", ["image", "inspect", "--format", "{{.Id}}", image], {
            signal: boundedSignal(options.timeoutMs, signal),
            description: `docker image inspect ${image}`,
            okExitCodes: [0, 1],
          });
          if (result.exitCode === 0) return true;
          if (/no such image/i.test(result.stderr)) return false;
          throw new Error(
            `docker image inspect ${image}: ${result.stderr.trim() || `exit ${result.exitCode}`}`,
          );
        }, bound);
        images.set(image, inspect);
      }
      return inspect();
    },
  };
}
