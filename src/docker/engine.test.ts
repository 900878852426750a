import { readFile } from "node:fs/promises";
import { createServer as createHttpServer } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { OperationError, UsageError } from "../errors.js";
import { run } from "../exec/process.js";
import {
  containerAddress,
  engineEnv,
  isRemote,
  parseEngineUrl,
  pinEngine,
  probeEngine,
  publishAddress,
  resolveEngine,
  type Engine,
} from "./engine.js";

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe("engine addresses", () => {
  it("accepts unix sockets and tcp host:port", () => {
    expect(parseEngineUrl("unix:///var/run/docker.sock")).toEqual({
      transport: "unix",
      socketPath: "/var/run/docker.sock",
    });
    expect(parseEngineUrl("tcp://10.0.0.5:2376")).toEqual({ transport: "tcp", host: "10.0.0.5", port: 2376 });
    expect(parseEngineUrl("tcp://[::1]:2375")).toEqual({ transport: "tcp", host: "::1", port: 2375 });
  });

  it("refuses what it cannot use, saying why", () => {
    expect(parseEngineUrl("docker.example.org")).toMatch(/^expected unix:\/\/\/path/);
    expect(parseEngineUrl("tcp://docker.example.org")).toMatch(/tcp:\/\/ needs a port/);
    expect(parseEngineUrl("tcp://:2376")).toMatch(/expected|needs a host/);
    expect(parseEngineUrl("tcp://host:99999")).toMatch(/^expected/);
    expect(parseEngineUrl("tcp://host:2376/path")).toMatch(/only host and port/);
    expect(parseEngineUrl("unix://relative.sock")).toMatch(/absolute path/);
    expect(parseEngineUrl("http://host:2375")).toMatch(/^expected/);
    expect(parseEngineUrl("ssh://user@host")).toMatch(/ssh:\/\/ engines are not supported/);
  });

  it("resolves the drill's setting over DOCKER_HOST, with Docker's TLS variables", () => {
    const env = { DOCKER_HOST: "unix:///run/other.sock", DOCKER_TLS_VERIFY: "1", DOCKER_CERT_PATH: "/certs" };
    expect(resolveEngine({ engine: "tcp://box:2376", drill: "d" }, env)).toEqual({
      url: "tcp://box:2376",
      transport: "tcp",
      host: "box",
      port: 2376,
      tlsCertPath: "/certs",
      source: "engine: of drill d",
    });
    expect(resolveEngine({ drill: "d" }, env)).toMatchObject({
      socketPath: "/run/other.sock",
      source: "DOCKER_HOST",
    });
    expect(resolveEngine({ drill: "d" }, {})).toBeUndefined();
    expect(() => resolveEngine({ drill: "d" }, { DOCKER_HOST: "tcp://x" })).toThrow(UsageError);
    expect(() => resolveEngine({ drill: "d" }, { DOCKER_HOST: "tcp://x" })).toThrow(
      /^DOCKER_HOST: tcp:\/\/ needs a port/,
    );
  });

  it("publishes on loopback unless the engine is on another machine", () => {
    const tcp = (host: string): Extract<Engine, { transport: "tcp" }> => ({
      url: `tcp://${host}:2376`,
      transport: "tcp",
      host,
      port: 2376,
      tlsCertPath: undefined,
      source: "DOCKER_HOST",
    });
    const unix: Engine = { url: "unix:///s", transport: "unix", socketPath: "/s", source: "DOCKER_HOST" };
    for (const local of [undefined, unix, tcp("127.0.0.1"), tcp("localhost"), tcp("::1")]) {
      expect(isRemote(local)).toBe(false);
      expect(publishAddress(local)).toBe("127.0.0.1");
      expect(containerAddress(local)).toBe("127.0.0.1");
    }
    expect(publishAddress(tcp("10.1.2.3"))).toBe("0.0.0.0");
    expect(containerAddress(tcp("10.1.2.3"))).toBe("10.1.2.3");
    expect(engineEnv({ ...tcp("10.1.2.3"), tlsCertPath: "/certs" })).toEqual({
      DOCKER_HOST: "tcp://10.1.2.3:2376",
      DOCKER_CONTEXT: undefined,
      DOCKER_TLS_VERIFY: "1",
      DOCKER_CERT_PATH: "/certs",
    });
    expect(engineEnv(unix)).toMatchObject({ DOCKER_HOST: "unix:///s", DOCKER_TLS_VERIFY: undefined });
  });
});

describe("probing an engine", () => {
  it("fails with one line naming the engine and where it was set", async () => {
    const port = await closedPort();
    const engine = resolveEngine({ engine: `tcp://127.0.0.1:${port}`, drill: "d" }, {});
    const error = await probeEngine(engine as Engine).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(OperationError);
    expect((error as Error).message).toBe(
      `Docker engine tcp://127.0.0.1:${port} (engine: of drill d) is not reachable: connect ECONNREFUSED 127.0.0.1:${port}`,
    );
  });

  it("reads the version over a unix socket, and refuses an answer that is not Docker's", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "backdrill-engine-"));
    let answer = JSON.stringify({ Version: "27.1.0", ApiVersion: "1.46" });
    const server = createHttpServer((request, response) => {
      response.writeHead(request.url === "/version" ? 200 : 404).end(answer);
    });
    const socketPath = path.join(dir, "docker.sock");
    await new Promise<void>((resolve) => server.listen(socketPath, resolve));
    try {
      const engine = resolveEngine({ engine: `unix://${socketPath}`, drill: "d" }, {}) as Engine;
      expect(await probeEngine(engine)).toBe("27.1.0");
      answer = "<html>hello</html>";
      await expect(probeEngine(engine)).rejects.toThrow(
        /is not reachable: its \/version answer is not Docker's/,
      );
    } finally {
      await new Promise((resolve) => server.close(resolve));
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("speaks TLS with Docker's ca.pem, cert.pem and key.pem from DOCKER_CERT_PATH", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "backdrill-engine-tls-"));
    const openssl = (...args: string[]) => run("openssl", args, { cwd: dir });
    try {
      const key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
      await openssl(
        "req",
        "-x509",
        ...key,
        "-keyout",
        "ca-key.pem",
        "-out",
        "ca.pem",
        "-subj",
        "/CN=ca",
        "-days",
        "1",
      );
      for (const [name, extra] of [
        ["server", ["-addext", "subjectAltName=IP:127.0.0.1"]],
        ["cert", []],
      ] as const) {
        const keyFile = name === "cert" ? "key.pem" : `${name}-key.pem`;
        await openssl(
          "req",
          "-new",
          ...key,
          "-keyout",
          keyFile,
          "-out",
          `${name}.csr`,
          "-subj",
          `/CN=${name}`,
          ...extra,
        );
        await openssl(
          "x509",
          "-req",
          "-in",
          `${name}.csr`,
          "-CA",
          "ca.pem",
          "-CAkey",
          "ca-key.pem",
          "-CAcreateserial",
          "-out",
          `${name}.pem`,
          "-days",
          "1",
          "-copy_extensions",
          "copy",
        );
      }
      const server = createHttpsServer(
        {
          key: await readFile(path.join(dir, "server-key.pem")),
          cert: await readFile(path.join(dir, "server.pem")),
          ca: await readFile(path.join(dir, "ca.pem")),
          requestCert: true,
          rejectUnauthorized: true,
        },
        (_request, response) => response.writeHead(200).end(JSON.stringify({ Version: "28.0.1" })),
      );
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      const port = (server.address() as { port: number }).port;
      try {
        const tls = { DOCKER_TLS_VERIFY: "1", DOCKER_CERT_PATH: dir };
        const engine = resolveEngine({ engine: `tcp://127.0.0.1:${port}`, drill: "d" }, tls) as Engine;
        expect(await probeEngine(engine)).toBe("28.0.1");
        const noCerts = resolveEngine(
          { engine: `tcp://127.0.0.1:${port}`, drill: "d" },
          {
            ...tls,
            DOCKER_CERT_PATH: path.join(dir, "missing"),
          },
        ) as Engine;
        await expect(probeEngine(noCerts)).rejects.toThrow(/cannot read its TLS files in DOCKER_CERT_PATH/);
        // Without TLS the engine does not answer plain HTTP.
        const plain = resolveEngine({ engine: `tcp://127.0.0.1:${port}`, drill: "d" }, {}) as Engine;
        await expect(probeEngine(plain, 3000)).rejects.toThrow(/is not reachable/);
      } finally {
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("pins one engine per process and refuses a drill on another", async () => {
    await pinEngine("first", undefined, {});
    await pinEngine("again", undefined, {});
    const other = resolveEngine({ engine: "tcp://10.9.9.9:2376", drill: "second" }, {});
    await expect(pinEngine("second", other, {})).rejects.toThrow(
      /drill second runs on Docker engine tcp:\/\/10\.9\.9\.9:2376 but drill first in this run already uses \(local default\)/,
    );
  });
});
