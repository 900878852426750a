/**
 * Stack drills, issue 21: the stack's network is a lab with no way out. From a container inside
 * it, a connection to a port the drill host listens on (every address of the host, the Docker
 * bridges' gateways, the stack network's own gateway address) fails, and so does one to the
 * internet; the same probe from a container on Docker's default bridge does reach the host (so the
 * probe can succeed, and the isolation is what stops it). Inside the stack, services reach each
 * other by name, and backdrill reaches them through its tunnels. Nothing of the stack outlives
 * its scope, and leftovers of a killed run (by owner label) are swept.
 */
import { randomBytes } from "node:crypto";
import { createServer, type Server } from "node:net";
import { hostname, networkInterfaces } from "node:os";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { removeContainer, startDrillContainer, testcontainers } from "../../src/docker/container.js";
import {
  createStackNetwork,
  inspectStackNetwork,
  STACK_LABEL,
  STACK_OWNER_LABEL,
  type StackNetwork,
} from "../../src/docker/stack-network.js";
import { sweepDeadStacks } from "../../src/docker/stack-sweep.js";
import { createDrillVolume } from "../../src/docker/volume.js";
import { isPidAlive } from "../../src/lifecycle/pid.js";
import { Scope } from "../../src/lifecycle/scope.js";
import { isolationCheck } from "../../src/runner/stack/isolation.js";
import { taskAppImage } from "../support/images.js";

const signal = new AbortController().signal;
let listener: Server;
let port = 0;
let accepted = 0;

/** Every IPv4 address of this host, plus the gateways of Docker's networks (bridge and the stack's). */
async function hostAddresses(network: StackNetwork): Promise<string[]> {
  const addresses = new Set<string>();
  for (const entries of Object.values(networkInterfaces())) {
    for (const entry of entries ?? []) if (entry.family === "IPv4") addresses.add(entry.address);
  }
  for (const name of ["bridge", network.name]) {
    const { stdout } = await execa("docker", [
      "network",
      "inspect",
      "-f",
      "{{range .IPAM.Config}}{{.Gateway}} {{end}}",
      name,
    ]);
    for (const gateway of stdout.trim().split(/\s+/)) if (gateway !== "") addresses.add(gateway);
  }
  return [...addresses];
}

/** `REACHED <address>` for each address:port a container connects to, from inside it. */
function probeScript(targets: readonly string[]): string {
  return targets
    .map((target) => {
      const [address, targetPort] = target.split(":");
      return `timeout 4 bash -c '</dev/tcp/${address}/${targetPort}' 2>/dev/null && echo "REACHED ${target}"`;
    })
    .concat("true")
    .join("; ");
}

beforeAll(async () => {
  listener = createServer((socket) => {
    accepted += 1;
    socket.destroy();
  });
  await new Promise<void>((resolve) => listener.listen(0, "0.0.0.0", resolve));
  const address = listener.address();
  port = typeof address === "object" && address !== null ? address.port : 0;
});

afterAll(async () => {
  await new Promise<void>((resolve) => listener.close(() => resolve()));
});

describe("a stack drill's network", () => {
  it("lets nothing inside reach the host or the internet; services reach each other, backdrill reaches them", async () => {
    const scope = new Scope();
    let network: StackNetwork | undefined;
    try {
      network = await createStackNetwork(scope, "isolation-test");
      const placement = (alias: string) => ({
        network: network?.name ?? "",
        alias,
        labels: network?.labels ?? {},
      });
      const peer = await startDrillContainer({
        image: taskAppImage(),
        what: "peer service",
        scope,
        signal,
        network: placement("peer"),
        ports: [8080],
        command: ["php", "-S", "0.0.0.0:8080", "-t", "/app"],
      });
      const probe = await startDrillContainer({
        image: taskAppImage(),
        what: "probe",
        scope,
        signal,
        network: placement("probe"),
        command: ["sleep", "300"],
      });
      await createDrillVolume(scope, network.labels, "isolation test volume");

      // backdrill reaches a service through its tunnel (the Docker API), not over a network path.
      let status = 0;
      for (let attempt = 0; attempt < 60 && status === 0; attempt += 1) {
        status = await fetch(`http://${peer.getHost()}:${peer.getMappedPort(8080)}/`)
          .then((response) => response.status)
          .catch(() => 0);
        if (status === 0) await new Promise((resolve) => setTimeout(resolve, 500));
      }
      expect(status).toBeGreaterThan(0);

      // Services reach each other by name inside the stack.
      const inside = await probe.exec(["bash", "-c", probeScript(["peer:8080"])]);
      expect(inside.output).toContain("REACHED peer:8080");

      // Nothing reaches the host's listening port on any of its addresses, nor the internet.
      const addresses = await hostAddresses(network);
      expect(addresses.length).toBeGreaterThan(2);
      const outside = [...addresses.map((address) => `${address}:${port}`), "1.1.1.1:443", "8.8.8.8:53"];
      const isolated = await probe.exec(["bash", "-c", probeScript(outside)]);
      expect(isolated.output).not.toContain("REACHED");
      expect(accepted).toBe(0);

      // The same probe from Docker's default bridge does reach the host: the probe works.
      const control = await startDrillContainer({
        image: taskAppImage(),
        what: "control probe",
        scope,
        signal,
        command: ["sleep", "300"],
      });
      const open = await control.exec([
        "bash",
        "-c",
        probeScript(addresses.map((address) => `${address}:${port}`)),
      ]);
      expect(open.output).toContain("REACHED");
      expect(accepted).toBeGreaterThan(0);
      await removeContainer(control.getId());

      // What the drill itself reports on every run.
      const evidence = await inspectStackNetwork(network);
      expect(evidence.containers.map((container) => container.aliases).flat()).toEqual(
        expect.arrayContaining(["peer", "probe"]),
      );
      expect(isolationCheck(network.name, evidence)).toMatchObject({ ok: true });
    } finally {
      const errors = await scope.close();
      expect(errors).toEqual([]);
    }
    // Nothing outlives the scope: containers, network, volume.
    const label = `label=${STACK_LABEL}=${network.name}`;
    expect((await execa("docker", ["ps", "-aq", "--filter", label])).stdout).toBe("");
    expect((await execa("docker", ["network", "ls", "-q", "--filter", label])).stdout).toBe("");
    expect((await execa("docker", ["volume", "ls", "-q", "--filter", label])).stdout).toBe("");
  });

  it("sweeps what a killed run left (containers, networks, volumes by owner label), never a live run's", async () => {
    let dead = 4_000_000;
    while (isPidAlive(dead)) dead -= 7919;
    const { getContainerRuntimeClient } = await testcontainers();
    const docker = (await getContainerRuntimeClient()).container.dockerode;
    const name = `backdrill-stack-swept-${randomBytes(3).toString("hex")}`;
    const labelsOf = (pid: number) => ({ [STACK_LABEL]: name, [STACK_OWNER_LABEL]: `${hostname()}:${pid}` });
    const network = await docker.createNetwork({ Name: name, Internal: true, Labels: labelsOf(dead) });
    const volume = await docker.createVolume({ Name: `${name}-v`, Labels: labelsOf(dead) });
    const container = await docker.createContainer({
      Image: taskAppImage(),
      Cmd: ["sleep", "1"],
      Labels: labelsOf(dead),
      HostConfig: { NetworkMode: name },
    });
    // A live run's (this process): left alone.
    const live = await docker.createVolume({ Name: `${name}-live`, Labels: labelsOf(process.pid) });
    try {
      const swept = await sweepDeadStacks();
      expect(swept.containers).toBeGreaterThanOrEqual(1);
      expect(swept.networks).toBeGreaterThanOrEqual(1);
      expect(swept.volumes).toBeGreaterThanOrEqual(1);
      const label = `label=${STACK_LABEL}=${name}`;
      expect((await execa("docker", ["ps", "-aq", "--filter", label])).stdout).toBe("");
      expect((await execa("docker", ["network", "ls", "-q", "--filter", label])).stdout).toBe("");
      expect((await execa("docker", ["volume", "ls", "-q", "--filter", label])).stdout.trim()).toBe(
        `${name}-live`,
      );
    } finally {
      await removeContainer(container.id);
      await docker.getVolume(live.name).remove();
      await docker
        .getVolume(volume.name)
        .remove()
        .catch(() => undefined);
      await network.remove().catch(() => undefined);
    }
  });
});
