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
 * runs, showing what the failed import cost. Only an unusable sandbox throws.
 */
import { requireDrillImage } from "../../docker/container.js";
import type { CheckResult, DrillContext, DrillOutcome } from "../engine.js";
import { readDefinitionsArtifact } from "./artifact.js";
import { inJob, serverInfo } from "./backup.js";
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
import { startRabbitSandbox } from "./sandbox.js";
import { parseFacts, type RabbitmqDrillTargetInput, type RabbitmqJobInput } from "./types.js";

const message = (error: unknown): string => (error instanceof Error ? error.message : String(error));

export async function drillRabbitmq(
  context: DrillContext<RabbitmqJobInput, RabbitmqDrillTargetInput>,
): Promise<DrillOutcome> {
  const { job, target, log, signal, scope } = context;
  const facts = parseFacts(context.facts, `job ${job.name}, snapshot ${context.artifacts.snapshot.id}`);
  const image = requireDrillImage(target, job.name, "rabbitmq:4-management");
  const strip = target.checks?.stripClassicMirroring ?? true;

  const restoreStarted = Date.now();
  const source = await readDefinitionsArtifact(context.artifacts, facts.artifact, signal).catch(
    (error: unknown) => {
      throw inJob(job.name, error);
    },
  );
  const sandboxStarted = Date.now();
  const sandbox = await startRabbitSandbox(image, scope, signal).catch((error: unknown) => {
    throw inJob(job.name, error);
  });
  const sandboxStartMs = Date.now() - sandboxStarted;
  const targetInfo = await serverInfo(sandbox.endpoint, signal).catch((error: unknown) => {
    throw inJob(job.name, error);
  });
  const targetVersion = targetInfo.version ?? targetInfo.managementVersion ?? "unknown";
  log.info(
    { job: job.name, image, version: targetVersion, ms: sandboxStartMs },
    "rabbitmq drill: sandbox up",
  );

  const results: CheckResult[] = [];
  const mirroring = findClassicMirroring(source);
  const refuses = majorVersion(targetVersion) >= 4;
  let imported: Definitions = forImport(source);
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

  // ---- import -------------------------------------------------------------------------------
  const body = JSON.stringify(imported.document);
  let importError: string | undefined;
  try {
    await postJson(sandbox.endpoint, "/api/definitions", body, signal);
  } catch (error) {
    signal.throwIfAborted();
    importError = message(error);
  }
  const restoreMs = Date.now() - restoreStarted - sandboxStartMs;
  results.unshift({
    name: "import",
    ok: importError === undefined,
    detail:
      importError === undefined
        ? `definitions exported from RabbitMQ ${documentVersion(source) ?? facts.server.version ?? "unknown"} imported into RabbitMQ ${targetVersion} (${body.length} bytes)`
        : `RabbitMQ ${targetVersion} refused the definitions (the import stops at the first refused object): ${importError}`,
  });

  // ---- compare ------------------------------------------------------------------------------
  const checksStarted = Date.now();
  const { value } = await getJson(sandbox.endpoint, "/api/definitions", signal).catch((error: unknown) => {
    throw inJob(job.name, error);
  });
  const restored = parseDefinitions(value, "re-export from the drill broker");
  const sourceHasRoot = source.lists.vhosts.some((v) => v.name === "/");
  const ignore = { ignoreUser: sandbox.user, ignoreVhosts: sourceHasRoot ? [] : ["/"] };
  const differences = diffDefinitions(normalise(imported), normalise(restored, ignore));
  const expectedCounts = countDefinitions(imported);
  const restoredCounts = countDefinitions(restored, ignore);
  results.push({
    name: "definitions equal",
    ok: differences.length === 0,
    detail:
      differences.length === 0
        ? `re-exported definitions equal the backup after normalisation: ${formatCounts(restoredCounts)}`
        : `${differences.length} difference(s):\n${differences.join("\n")}`,
  });
  const countProblems = [
    ...compareCounts(facts.counts, countDefinitions(source)).map(
      (line) => `artifact vs backup facts: ${line}`,
    ),
    ...compareCounts(expectedCounts, restoredCounts),
  ];
  results.push({
    name: "counts",
    ok: countProblems.length === 0,
    detail: countProblems.length === 0 ? formatCounts(restoredCounts) : countProblems.join("\n"),
  });
  const checksMs = Date.now() - checksStarted;

  return {
    checks: results,
    timings: { restoreMs, checksMs },
    details: {
      image,
      sourceVersion: documentVersion(source) ?? facts.server.version,
      targetVersion,
      counts: restoredCounts,
      differences: differences.length,
      classicMirroring: mirroring.map((p) => `${p.vhost}/${p.name}`),
      strippedClassicMirroring: strip && mirroring.length > 0,
      sandboxStartMs,
    },
  };
}
