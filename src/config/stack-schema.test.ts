import { describe, expect, it } from "vitest";
import { drillSchema } from "./drill-schema.js";
import { validateDocument } from "./validate.js";

const base = {
  name: "stack",
  identityFile: "/etc/backdrill/drill-identity.txt",
  targets: [{ job: "task-db", service: "postgres" }, { job: "task-secrets" }],
};
const stack = { smokeTest: { image: "task/app:1", command: ["php", "bin/console", "app:smoke"] } };

function issues(document: unknown): string[] {
  const result = validateDocument(drillSchema, document, {});
  return result.ok ? [] : result.issues.map((issue) => `${issue.path}: ${issue.message}`);
}

describe("drill stack:", () => {
  it("accepts a stack drill; services default to the job's name, the smoke test to a 5m timeout", () => {
    const result = validateDocument(drillSchema, { ...base, stack: { rto: "30m", ...stack } }, {});
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.value.stack).toEqual({ rto: "30m", smokeTest: { ...stack.smokeTest, timeout: "5m" } });
    expect(result.value.targets.map((target) => target.service)).toEqual(["postgres", undefined]);
  });

  it("takes an http check instead of a command, with path and status defaults", () => {
    const result = validateDocument(
      drillSchema,
      { ...base, stack: { smokeTest: { image: "task/app:1", http: { port: 8080 } } } },
      {},
    );
    expect(result.ok && result.value.stack?.smokeTest.http).toEqual({ port: 8080, path: "/", status: 200 });
  });

  it("refuses service outside a stack drill", () => {
    expect(issues(base)).toEqual([
      "targets.0.service: only in a stack drill: add stack: (with a smokeTest), or remove service",
    ]);
  });

  it("needs a DNS name per service, each once, none reserved", () => {
    expect(
      issues({
        ...base,
        targets: [
          { job: "Task_DB" },
          { job: "a", service: "postgres" },
          { job: "b", service: "postgres" },
          { job: "c", service: "backdrill" },
        ],
        stack,
      }),
    ).toEqual([
      'targets.0.service: a stack drill names each service; the job name "Task_DB" is not a DNS name, so set service: (e.g. "task-db")',
      "targets.2.service: service postgres is already target 1; give each a name of its own",
      "targets.3.service: backdrill is reserved for the stack's own variables; pick another name",
    ]);
    expect(issues({ ...base, targets: [{ job: "a", service: "Postgres" }], stack })[0]).toMatch(
      /^targets\.0\.service: expected a service name of lower-case letters/,
    );
  });

  it("needs a command or an http check, and keeps the stack's variable names to itself", () => {
    expect(issues({ ...base, stack: { smokeTest: { image: "task/app:1" } } })).toEqual([
      "stack.smokeTest: give command (the check to run, exit 0 = works) or http (a URL to poll), or both",
    ]);
    expect(
      issues({
        ...base,
        stack: {
          smokeTest: { ...stack.smokeTest, env: { APP_ENV: "prod", POSTGRES_HOST: "x", BACKDRILL_X: "y" } },
        },
      }),
    ).toEqual([
      "stack.smokeTest.env.POSTGRES_HOST: POSTGRES_* variables are set by the stack (the services' addresses and credentials); rename it",
      "stack.smokeTest.env.BACKDRILL_X: BACKDRILL_* variables are set by the stack (the services' addresses and credentials); rename it",
    ]);
  });
});
