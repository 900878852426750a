/**
 * A drill's `stack:` block (docs/architecture.md, "Stack drills"): the drill's targets are restored
 * together into one isolated network, each under its `service` name, and a smoke test (the
 * application) runs against them there. The README's "Stack drills" section is the reference.
 */
import * as z from "zod";
import { durationSchema, ENV_NAME_PATTERN, nonEmptyString, portSchema } from "../schema/common.js";
import { showValue } from "../schema/show.js";

/** A service's name: its DNS name in the stack's network, and its variables' prefix. */
export const SERVICE_PATTERN = /^[a-z](?:[a-z0-9-]{0,30}[a-z0-9])?$/;
/** Prefixes the stack itself uses for the smoke test's variables. */
const RESERVED_SERVICES = new Set(["backdrill"]);

export const serviceSchema = z
  .string()
  .regex(SERVICE_PATTERN, {
    error: (iss) =>
      `expected a service name of lower-case letters, digits and "-" (a DNS name, at most 32, starting with a letter), got ${showValue(iss.input)}`,
  })
  .meta({
    description:
      "Stack drills only: the service's name in the stack's network (postgres, s3, ...) and the prefix of its smoke test variables (POSTGRES_HOST, ...). Default: the job's name.",
  });

/** `postgres-pitr` -> `POSTGRES_PITR`: the prefix of a service's smoke test variables. */
export function envPrefix(service: string): string {
  return service.toUpperCase().replace(/-/g, "_");
}

export const smokeHttpSchema = z
  .strictObject({
    port: portSchema.meta({ description: "The port the application answers on inside its container." }),
    path: z
      .string()
      .regex(/^\/\S*$/, { error: (iss) => `expected a path starting with /, got ${showValue(iss.input)}` })
      .default("/")
      .meta({ description: "The path polled with GET, e.g. /health." }),
    status: z
      .number()
      .int()
      .min(100)
      .max(599)
      .default(200)
      .meta({ description: "The HTTP status that means the application is up (default 200)." }),
  })
  .meta({
    description:
      "Poll this URL of the smoke test container (through the Docker API, as the network has no route out) until it answers with `status`.",
  });

export const smokeTestSchema = z
  .strictObject({
    image: nonEmptyString.meta({ description: "The application's image; it needs sh (and bash for http)." }),
    command: z.array(z.string()).min(1).optional().meta({
      description:
        "The smoke test's argv; exit 0 means the application works. Default (with http): the image's entrypoint and command.",
    }),
    env: z
      .record(
        z.string().regex(ENV_NAME_PATTERN, { error: "expected an environment variable name like APP_ENV" }),
        z.string(),
      )
      .optional()
      .meta({
        description: "More variables for the smoke test (not secrets: they are shown by docker inspect).",
      }),
    http: smokeHttpSchema.optional(),
    timeout: durationSchema
      .default("5m")
      .meta({ description: "How long the smoke test may take before it counts as failed (default 5m)." }),
  })
  .meta({
    description:
      "The application, run on the stack's network with every service's address and credentials in its environment.",
  });

export const stackSchema = z
  .strictObject({
    rto: durationSchema
      .optional()
      .meta({ description: "Time budget from the drill's start until the smoke test passes, e.g. 45m." }),
    smokeTest: smokeTestSchema,
  })
  .meta({
    description:
      "Restore the targets together into one isolated network and run a smoke test against them (README, Stack drills).",
  });

export type SmokeTest = z.infer<typeof smokeTestSchema>;
export type StackSpec = z.infer<typeof stackSchema>;

interface StackDrillShape {
  targets: Array<{ job: string; service?: string | undefined }>;
  stack?: StackSpec | undefined;
}

/** A target's service name: `service`, or the job's name. */
export function serviceOf(target: { job: string; service?: string | undefined }): string {
  return target.service ?? target.job;
}

/** Rules across a drill's targets and its `stack:` block (names, defaults, variables). */
export function checkStack(drill: StackDrillShape, ctx: z.RefinementCtx): void {
  const issue = (path: Array<string | number>, message: string) =>
    ctx.addIssue({ code: "custom", path, message });
  if (drill.stack === undefined) {
    drill.targets.forEach((target, index) => {
      if (target.service !== undefined)
        issue(
          ["targets", index, "service"],
          "only in a stack drill: add stack: (with a smokeTest), or remove service",
        );
    });
    return;
  }
  const seen = new Map<string, number>();
  drill.targets.forEach((target, index) => {
    const service = serviceOf(target);
    if (target.service === undefined && !SERVICE_PATTERN.test(service)) {
      issue(
        ["targets", index, "service"],
        `a stack drill names each service; the job name ${showValue(target.job)} is not a DNS name, so set service: (e.g. ${showValue(
          target.job
            .toLowerCase()
            .replace(/[^a-z0-9-]/g, "-")
            .replace(/^[^a-z]+/, "") || "app",
        )})`,
      );
      return;
    }
    if (RESERVED_SERVICES.has(service)) {
      issue(
        ["targets", index, "service"],
        `${service} is reserved for the stack's own variables; pick another name`,
      );
    }
    const previous = seen.get(service);
    if (previous !== undefined) {
      issue(
        ["targets", index, "service"],
        `service ${service} is already target ${previous}; give each a name of its own`,
      );
    }
    seen.set(service, index);
  });
  const smoke = drill.stack.smokeTest;
  if (smoke.command === undefined && smoke.http === undefined) {
    issue(
      ["stack", "smokeTest"],
      "give command (the check to run, exit 0 = works) or http (a URL to poll), or both",
    );
  }
  const prefixes = ["BACKDRILL_", ...[...seen.keys()].map((service) => `${envPrefix(service)}_`)];
  for (const name of Object.keys(smoke.env ?? {})) {
    const clash = prefixes.find((prefix) => name.startsWith(prefix));
    if (clash !== undefined) {
      issue(
        ["stack", "smokeTest", "env", name],
        `${clash}* variables are set by the stack (the services' addresses and credentials); rename it`,
      );
    }
  }
}
