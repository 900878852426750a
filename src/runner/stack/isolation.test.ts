import { describe, expect, it } from "vitest";
import type { NetworkEvidence } from "../../docker/stack-network.js";
import { isolationCheck, servicesPlacedCheck } from "./isolation.js";

const container = (name: string, aliases: string[], networks = ["net"], publishedPorts = 0) => ({
  id: name,
  name,
  aliases,
  networks,
  publishedPorts,
});

describe("the stack's isolation evidence", () => {
  const good: NetworkEvidence = {
    internal: true,
    hostAddressInhibited: true,
    containers: [container("pg", ["postgres"]), container("smoke", ["backdrill.smoke"])],
  };

  it("passes an internal network without a host address whose containers are on it alone", () => {
    expect(isolationCheck("net", good)).toMatchObject({ name: "stack isolated", ok: true });
  });

  it("fails on each way out", () => {
    const bad: NetworkEvidence = {
      internal: false,
      hostAddressInhibited: false,
      containers: [container("pg", ["postgres"], ["net", "bridge"]), container("s3", ["s3"], ["net"], 1)],
    };
    const check = isolationCheck("net", bad);
    expect(check.ok).toBe(false);
    expect(check.detail).toContain("not internal");
    expect(check.detail).toContain("drill host has an address");
    expect(check.detail).toContain("pg is also on bridge");
    expect(check.detail).toContain("s3 publishes 1 port(s)");
  });

  it("names a service whose kind did not join, and one whose target failed", () => {
    const check = servicesPlacedCheck(good, [
      { service: "postgres", port: 5432 },
      { service: "secrets", port: null },
      { service: "s3", port: 5000 },
      { service: "files", port: undefined },
    ]);
    expect(check.ok).toBe(false);
    expect(check.detail).toContain("s3 (no container answers to that name");
    expect(check.detail).toContain("files (its target failed");
    expect(servicesPlacedCheck(good, [{ service: "postgres", port: 5432 }]).ok).toBe(true);
  });
});
