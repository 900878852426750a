/**
 * Doctor checks of a `postgres-dump` job: the shared PostgreSQL checks (connection, pg_dump's
 * version), and that every database the job names exists. Read-only.
 */
import { fail, ok, type CheckSpec } from "../../preflight/runner.js";
import type { JobSource, KindDoctorContext } from "../contract.js";
import { needServer, postgresServerChecks } from "../postgres/doctor.js";
import type { PostgresDumpJob } from "./job-schema.js";

export function postgresDumpDoctor(
  context: KindDoctorContext,
  source: JobSource<PostgresDumpJob>,
): CheckSpec[] {
  const { file, job } = source;
  const subject = `job ${job.name}`;
  const { checks, server } = postgresServerChecks(context, source, "pg_dump");
  if (job.databases !== undefined) {
    const wanted = job.databases;
    checks.push({
      subject,
      name: "databases",
      run: async () => {
        const facts = await needServer(server);
        const missing = wanted.filter((name) => !facts.databases.includes(name));
        if (missing.length > 0) {
          return fail(
            `not on the server: ${missing.join(", ")} (it has ${facts.databases.join(", ") || "none"})`,
            `fix databases in ${file}`,
          );
        }
        return ok(wanted.join(", "));
      },
    });
  }
  return checks;
}
