/**
 * Drill-host checks: the Docker engine answers, every target's image is present locally (no
 * registry may be reachable, and a drill should not depend on one at 4 a.m.), and the identity
 * files can be read, parse, and open what they must. Identities are read into memory to derive
 * their public recipients; neither is ever part of a result beyond "which recipient".
 */
import { policyOf } from "../config.js";
import { readRecipients } from "../../secrets/resolve.js";
import type { TargetBase } from "../../kinds/contract.js";
import { kindOf } from "../../kinds/registry.js";
import { kindDoctorContext } from "../doctor.js";
import type { LoadedDrill } from "../../config/types.js";
import { identityToRecipient, readIdentityFile } from "../../crypto/keys.js";
import type { DoctorContext } from "./context.js";
import { fail, ok, SkipCheck, type CheckSpec } from "../../preflight/runner.js";
import { resolveEngine, type Engine } from "../../docker/engine.js";

export function dockerCheck(context: DoctorContext): CheckSpec {
  return {
    subject: "docker",
    name: "docker",
    run: async () => {
      try {
        return ok(`engine ${await context.dockerVersion()} answers`);
      } catch (error) {
        return fail(
          `the Docker engine does not answer: ${error instanceof Error ? error.message : String(error)}`,
          "start it (systemctl start docker, or dockerd) and let the backdrill user use it (docker group); drills and tools.image need it",
        );
      }
    },
  };
}

export async function drillChecks(
  context: DoctorContext,
  loaded: LoadedDrill,
  jobs: ReadonlySet<string>,
): Promise<CheckSpec[]> {
  const drill = loaded.drill;
  const subject = `drill ${drill.name}`;
  const targets = drill.targets.filter((target) => jobs.has(target.job));
  // A drill with its own engine: that engine is checked, and its images looked for there.
  const engine: Engine | undefined =
    drill.engine === undefined
      ? undefined
      : resolveEngine({ engine: drill.engine, drill: drill.name }, context.env);
  const where = engine === undefined ? "the local Docker engine" : `Docker engine ${engine.url}`;
  const checks: CheckSpec[] = [];
  if (engine !== undefined) {
    checks.push({
      subject,
      name: "engine",
      run: async () => {
        try {
          return ok(`${engine.url} answers (engine ${await context.dockerVersion(engine)})`);
        } catch (error) {
          return fail(
            `Docker engine ${engine.url} (engine: in ${loaded.file}) does not answer: ${error instanceof Error ? error.message : String(error)}`,
            `start that engine or fix engine: (docker --host ${engine.url} info)`,
          );
        }
      },
    });
  }
  checks.push({
    subject,
    name: "identity",
    run: async () => {
      const identities = await readIdentityFile(drill.identityFile);
      const own = new Set(await Promise.all(identities.map((identity) => identityToRecipient(identity))));
      // The identity must open every policy whose snapshots this drill restores.
      const policies = new Map<string, ReturnType<typeof policyOf>>();
      for (const target of targets) {
        const job = context.config.jobs.get(target.job);
        if (job !== undefined) {
          const policy = policyOf(context.config, job);
          policies.set(policy.policy.name, policy);
        }
      }
      const unopened: string[] = [];
      for (const [name, policy] of policies) {
        const recipients = await readRecipients(policy);
        if (!recipients.some((recipient) => own.has(recipient))) unopened.push(name);
      }
      if (unopened.length > 0) {
        return fail(
          `${drill.identityFile}: none of its ${identities.length} identity(ies) is a recipient of policy ${unopened.join(", ")}`,
          "use the identity whose public key (age-keygen -y FILE) is in the policy's recipients",
        );
      }
      return ok(
        `${drill.identityFile}: ${identities.length} identity(ies), opens policy ${[...policies.keys()].join(", ") || "(none used)"}`,
      );
    },
  });
  for (const target of targets) {
    const job = context.config.jobs.get(target.job);
    if (job === undefined) continue;
    const kind = kindOf(job.job.kind);
    const image = target.image;
    if ("example" in kind.target.image) {
      if (image === undefined) {
        const example = kind.target.image.example;
        checks.push({
          subject,
          name: `target ${target.job}`,
          run: async () =>
            fail(
              `no image: a ${job.job.kind} target restores into a container`,
              `set image: (e.g. ${example}) in ${loaded.file}`,
            ),
        });
      } else {
        checks.push({
          subject,
          name: `image ${image}`,
          run: async () => {
            try {
              await context.dockerVersion(engine);
            } catch {
              throw new SkipCheck(`needs ${where} (see ${engine === undefined ? "docker" : "engine"})`);
            }
            if (await context.imagePresent(image, engine)) {
              return ok(
                `present ${engine === undefined ? "locally" : `on ${engine.url}`} (target ${target.job})`,
              );
            }
            return fail(
              `not present in ${where} (target ${target.job})`,
              engine === undefined
                ? `docker pull ${image} or build it on this host before the drill runs`
                : `docker --host ${engine.url} pull ${image} (or docker save here | docker --host ${engine.url} load)`,
            );
          },
        });
      }
    }
    const kindContext = kindDoctorContext(context, policyOf(context.config, job));
    checks.push(...(await kind.drillDoctor(kindContext, target as TargetBase, job)));
  }
  return checks;
}
