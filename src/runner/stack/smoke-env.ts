/**
 * The smoke test's view of the stack (README, "Smoke test contract"): one environment, secret
 * files for a tmpfs, volumes to mount. Pure, so the contract is tested without Docker.
 *
 *   BACKDRILL_SERVICES        the services, space-separated, in the drill file's order
 *   <S>_KIND, <S>_JOB         the job kind and job of service <S> (postgres-pitr -> POSTGRES_PITR)
 *   <S>_RESTORED              true when its target restored (false: it failed before its sandbox)
 *   <S>_HOST, <S>_PORT        where it answers in the stack's network (services with a container)
 *   <S>_DIR                   its restored secret files (a tmpfs in the smoke test's container)
 *   <S>_MOUNT                 its restored data volume, mounted read-only
 *   <S>_<NAME>                what the kind adds (USER, PASSWORD, BUCKET, ENDPOINT, ...)
 */
import { envPrefix } from "../../config/stack-schema.js";
import { OperationError } from "../../errors.js";
import type { StackService } from "../../kinds/contract.js";

/** Where secret files go in the smoke test's container: a tmpfs, never the drill host's disk. */
export const SECRETS_ROOT = "/run/backdrill";
/** Where data volumes are mounted, read-only. */
export const MOUNT_ROOT = "/mnt/backdrill";

export interface ExposedService {
  service: string;
  job: string;
  kind: string;
  /** What the kind exposed, or undefined when its target failed before it could. */
  exposed: StackService | undefined;
}

export interface SmokeView {
  env: Record<string, string>;
  files: Array<{ path: string; data: Buffer }>;
  mounts: Array<{ volume: string; target: string }>;
}

/** A file name a kind may hand to the smoke test: no path, nothing hidden. */
const FILE_NAME = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,200}$/;

export function smokeView(
  services: readonly ExposedService[],
  extra: Readonly<Record<string, string>>,
): SmokeView {
  const env: Record<string, string> = { ...extra };
  const files: SmokeView["files"] = [];
  const mounts: SmokeView["mounts"] = [];
  env.BACKDRILL_SERVICES = services.map((item) => item.service).join(" ");
  for (const item of services) {
    const prefix = envPrefix(item.service);
    env[`${prefix}_KIND`] = item.kind;
    env[`${prefix}_JOB`] = item.job;
    env[`${prefix}_RESTORED`] = String(item.exposed !== undefined);
    const exposed = item.exposed;
    if (exposed === undefined) continue;
    for (const [name, value] of Object.entries(exposed.env)) env[`${prefix}_${name}`] = value;
    if (exposed.port !== null) {
      env[`${prefix}_HOST`] = item.service;
      env[`${prefix}_PORT`] = String(exposed.port);
    }
    if (exposed.files.length > 0) {
      const dir = `${SECRETS_ROOT}/${item.service}`;
      env[`${prefix}_DIR`] = dir;
      for (const file of exposed.files) {
        if (!FILE_NAME.test(file.name)) {
          throw new OperationError(
            `service ${item.service}: refusing to hand the smoke test a file named ${JSON.stringify(file.name)}`,
          );
        }
        files.push({ path: `${dir}/${file.name}`, data: file.data });
      }
    }
    if (exposed.volume !== null) {
      const target = `${MOUNT_ROOT}/${item.service}`;
      env[`${prefix}_MOUNT`] = target;
      mounts.push({ volume: exposed.volume, target });
    }
  }
  return { env, files, mounts };
}
