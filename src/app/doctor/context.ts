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
import { engineEnv, type Engine } from "../../docker/engine.js";

export interface DoctorContext {
  config: Config;
  env: NodeJS.ProcessEnv;
  timeoutMs: number;
  signal: AbortSignal | undefined;
  /** Owns tool containers started by version probes. */
  scope: Scope;
  /** `doctor --switch-wal` (KindDoctorContext.switchWal). */
  switchWal: boolean;
  repository(policy: LoadedPolicy): Promise<Repository>;
  /**
   * The Docker engine's version; rejects when the CLI or the engine does not answer. `engine`: a
   * drill's own `engine:` (docker/engine.ts), else the one DOCKER_HOST or the local default names.
   */
  dockerVersion(engine?: Engine): Promise<string>;
  /** Whether `image` is present in that engine (never pulls). */
  imagePresent(image: string, engine?: Engine): Promise<boolean>;
}

export function createDoctorContext(options: {
  config: Config;
  env: NodeJS.ProcessEnv;
  timeoutMs: number;
  signal: AbortSignal | undefined;
  scope: Scope;
  switchWal: boolean;
}): DoctorContext {
  const bound = { timeoutMs: options.timeoutMs, signal: options.signal };
  const repositories = new Map<string, () => Promise<Repository>>();
  const images = new Map<string, () => Promise<boolean>>();
  const versions = new Map<string, () => Promise<string>>();
  const dockerVersion = (engine?: Engine): Promise<string> => {
    const key = engine?.url ?? "";
    let version = versions.get(key);
    if (version === undefined) {
      version = shared(async (signal) => {
        const result = await run("docker", ["version", "--format", "{{.Server.Version}}"], {
          signal,
          description: engine === undefined ? "docker version" : `docker --host ${engine.url} version`,
          env: engine === undefined ? {} : engineEnv(engine),
        });
        return result.stdout.trim();
      }, bound);
      versions.set(key, version);
    }
    return version();
  };
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
    imagePresent(image, engine) {
      const key = `${engine?.url ?? ""} ${image}`;
      let inspect = images.get(key);
      if (inspect === undefined) {
        inspect = shared(async (signal) => {
          // Exit 1 is docker's "No such image"; anything else (engine down) is an error.
          const result = await run("docker", ["image", "inspect", "--format", "{{.Id}}", image], {
            signal: boundedSignal(options.timeoutMs, signal),
            description: `docker image inspect ${image}`,
            okExitCodes: [0, 1],
            env: engine === undefined ? {} : engineEnv(engine),
          });
          if (result.exitCode === 0) return true;
          if (/no such image/i.test(result.stderr)) return false;
          throw new Error(
            `docker image inspect ${image}: ${result.stderr.trim() || `exit ${result.exitCode}`}`,
          );
        }, bound);
        images.set(key, inspect);
      }
      return inspect();
    },
  };
}
