/**
 * Drill of a rabbitmq snapshot: start a fresh broker of the target's image, import the backed-up
 * definitions (POST /api/definitions), export them again and compare the two after
 * normalisation (see definitions.ts). Every difference is reported, with per-vhost counts.
 *
 * Classic mirroring (ha-* policy keys) is refused by RabbitMQ 4.x, and a refused policy aborts
 * the import half-way. With `checks.stripClassicMirroring` (default true) those keys are removed
 * before the import and the policies are named in the report; with it false the import is tried
 * as is, and fails naming them.
 *
 * An import error does not abort the drill: it fails the "import" check, and the comparison still
 * runs, showing what the failed import cost. Only an unusable sandbox throws. Phases (timed by
 * the runner): sandbox = the broker starting; restore = reading the artifact and the import;
 * checks = the re-export and comparison.
 */
import { requireDrillImage } from "../../docker/container.js";
import { inJob, OperationError } from "../../errors.js";
import type { CheckResult, DrillContext, DrillPhases } from "../contract.js";
import { readDefinitionsArtifact } from "./artifact.js";
import { serverInfo } from "./backup.js";
import {
  compareCounts,
  countDefinitions,
  describeMirroring,
  diffDefinitions,
  forImport,
  documentVersion,
  findClassicMirroring,
  formatCounts,
  majorVersion,
  normalise,
  parseDefinitions,
  stripClassicMirroring,
  type Definitions,
} from "./definitions.js";
import { getJson, postJson } from "./http.js";
import { AMQP_PORT, MANAGEMENT_PORT, startRabbitSandbox, type RabbitSandbox } from "./sandbox.js";
import type { RabbitmqFacts } from "./facts.js";
import type { RabbitmqTarget } from "./target.js";
import type { RabbitmqJobInput } from "./types.js";

const message = (error: unknown): string => (error instanceof Error ? error.message : String(error));

export function drillRabbitmq(
  context: DrillContext<RabbitmqJobInput, RabbitmqTarget, RabbitmqFacts>,
): DrillPhases {
  const { job, target, log, signal, scope, facts } = context;
  const image = requireDrillImage(target, job.name, "rabbitmq:4-management");
  const strip = target.checks?.stripClassicMirroring ?? true;
  const where = `job ${job.name}`;
  let sandbox: RabbitSandbox | undefined;
  let targetVersion = "unknown";
  let source: Definitions | undefined;
  let imported: Definitions | undefined;
  const details: Record<string, unknown> = { image };

  return {
    async sandbox() {
      sandbox = await startRabbitSandbox(image, scope, signal, target.pull ?? "never", context.stack).catch(
        (error: unknown) => {
          throw inJob(where, error);
        },
      );
      const info = await serverInfo(sandbox.endpoint, signal).catch((error: unknown) => {
        throw inJob(where, error);
      });
      targetVersion = info.version ?? info.managementVersion ?? "unknown";
      log.info({ job: job.name, image, version: targetVersion }, "rabbitmq drill: sandbox up");
    },

    async restore() {
      if (sandbox === undefined) throw new OperationError("rabbitmq drill: restore before sandbox");
      source = await readDefinitionsArtifact(context.artifacts, facts.artifact, signal).catch(
        (error: unknown) => {
          throw inJob(where, error);
        },
      );
      const results: CheckResult[] = [];
      const mirroring = findClassicMirroring(source);
      const refuses = majorVersion(targetVersion) >= 4;
      imported = forImport(source);
      if (mirroring.length > 0) {
        const names = describeMirroring(mirroring);
        if (strip) {
          imported = stripClassicMirroring(imported);
          results.push({
            name: "classic mirroring",
            ok: true,
            detail:
              `stripped before import (stripClassicMirroring): ${names}; ` +
              (refuses
                ? `RabbitMQ ${targetVersion} refuses classic mirroring, so after a restore these policies do not mirror (use quorum queues)`
                : `RabbitMQ ${targetVersion} would accept them; set stripClassicMirroring: false to drill them too`),
          });
        } else {
          results.push({
            name: "classic mirroring",
            ok: !refuses,
            detail: refuses
              ? `RabbitMQ ${targetVersion} refuses classic mirroring policy keys: ${names}; set stripClassicMirroring: true to drill and restore without them`
              : `imported as is: ${names}`,
          });
        }
      }
      const body = JSON.stringify(imported.document);
      let importError: string | undefined;
      try {
        await postJson(sandbox.endpoint, "/api/definitions", body, signal);
      } catch (error) {
        signal.throwIfAborted();
        importError = message(error);
      }
      results.unshift({
        name: "import",
        ok: importError === undefined,
        detail:
          importError === undefined
            ? `definitions exported from RabbitMQ ${documentVersion(source) ?? facts.server.version ?? "unknown"} imported into RabbitMQ ${targetVersion} (${body.length} bytes)`
            : `RabbitMQ ${targetVersion} refused the definitions (the import stops at the first refused object): ${importError}`,
      });
      Object.assign(details, {
        sourceVersion: documentVersion(source) ?? facts.server.version,
        targetVersion,
        classicMirroring: mirroring.map((p) => `${p.vhost}/${p.name}`),
        strippedClassicMirroring: strip && mirroring.length > 0,
      });
      return results;
    },

    async checks() {
      if (sandbox === undefined || source === undefined || imported === undefined) {
        throw new OperationError("rabbitmq drill: checks before restore");
      }
      const { value } = await getJson(sandbox.endpoint, "/api/definitions", signal).catch(
        (error: unknown) => {
          throw inJob(where, error);
        },
      );
      const restored = parseDefinitions(value, "re-export from the drill broker");
      const sourceHasRoot = source.lists.vhosts.some((v) => v.name === "/");
      const ignore = { ignoreUser: sandbox.user, ignoreVhosts: sourceHasRoot ? [] : ["/"] };
      const differences = diffDefinitions(normalise(imported), normalise(restored, ignore));
      const expectedCounts = countDefinitions(imported);
      const restoredCounts = countDefinitions(restored, ignore);
      const countProblems = [
        ...compareCounts(facts.counts, countDefinitions(source)).map(
          (line) => `artifact vs backup facts: ${line}`,
        ),
        ...compareCounts(expectedCounts, restoredCounts),
      ];
      Object.assign(details, { counts: restoredCounts, differences: differences.length });
      return [
        {
          name: "definitions equal",
          ok: differences.length === 0,
          detail:
            differences.length === 0
              ? `re-exported definitions equal the backup after normalisation: ${formatCounts(restoredCounts)}`
              : `${differences.length} difference(s):\n${differences.join("\n")}`,
        },
        {
          name: "counts",
          ok: countProblems.length === 0,
          detail: countProblems.length === 0 ? formatCounts(restoredCounts) : countProblems.join("\n"),
        },
      ];
    },

    stack() {
      if (sandbox === undefined || context.stack === undefined) {
        throw new OperationError("rabbitmq drill: stack before sandbox");
      }
      // The broker's throwaway administrator; the restored users keep their password hashes, so
      // an application may log in with its own credentials too.
      return {
        port: MANAGEMENT_PORT,
        env: {
          USER: sandbox.user,
          PASSWORD: sandbox.password,
          MANAGEMENT_URL: `http://${context.stack.alias}:${MANAGEMENT_PORT}`,
          AMQP_PORT: String(AMQP_PORT),
        },
        files: [],
        volume: null,
      };
    },

    details: () => details,
  };
}
