/**
 * The stack drill's own evidence that the stack was isolated, from what Docker reports (every
 * run, in the report): the network is internal, the drill host has no address on it, and every
 * container on it is attached to it alone and publishes no port. The integration test
 * (test/integration/stack-isolation.test.ts) proves what that means: a connection from inside
 * to a listening port of the host, or beyond, fails.
 */
import type { NetworkEvidence } from "../../docker/stack-network.js";
import type { CheckResult } from "../../kinds/contract.js";

export function isolationCheck(network: string, evidence: NetworkEvidence): CheckResult {
  const problems: string[] = [];
  if (!evidence.internal) problems.push(`network ${network} is not internal (it routes out)`);
  if (!evidence.hostAddressInhibited) problems.push(`the drill host has an address on network ${network}`);
  for (const container of evidence.containers) {
    const others = container.networks.filter((name) => name !== network);
    if (others.length > 0) problems.push(`${container.name} is also on ${others.join(", ")}`);
    if (container.publishedPorts > 0)
      problems.push(`${container.name} publishes ${container.publishedPorts} port(s)`);
  }
  return {
    name: "stack isolated",
    ok: problems.length === 0,
    detail:
      problems.length === 0
        ? `network ${network}: internal, no address of the drill host on it; ${evidence.containers.length} container(s) attached to it alone, no port published`
        : problems.join("; "),
  };
}

/** Every service with a port answers to its name in the network (its kind placed it there). */
export function servicesPlacedCheck(
  evidence: NetworkEvidence,
  services: ReadonlyArray<{ service: string; port: number | null | undefined }>,
): CheckResult {
  const aliases = new Set(evidence.containers.flatMap((container) => container.aliases));
  const missing = services.filter(
    (item) => item.port === undefined || (item.port !== null && !aliases.has(item.service)),
  );
  return {
    name: "stack services",
    ok: missing.length === 0,
    detail:
      missing.length === 0
        ? `${services.length} service(s) restored into the stack: ${services.map((item) => (item.port === null ? `${item.service} (files for the smoke test)` : `${item.service}:${item.port}`)).join(", ")}`
        : `not in the stack: ${missing.map((item) => (item.port === undefined ? `${item.service} (its target failed before it could join)` : `${item.service} (no container answers to that name: its kind did not place its sandbox in the stack)`)).join("; ")}`,
  };
}
