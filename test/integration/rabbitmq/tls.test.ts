/**
 * The management API over https: tls.caFile trusts a private CA without NODE_EXTRA_CA_CERTS,
 * tls.insecure skips verification, and an untrusted certificate fails with a hint. A local
 * https server on 127.0.0.1 with a throwaway CA (openssl) plays the broker.
 */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { countingWriter } from "../../support/counting-writer.js";
import https from "node:https";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RabbitmqJob } from "../../../src/kinds/rabbitmq/job-schema.js";
import { rabbitmqKind } from "../../../src/kinds/rabbitmq/index.js";
import { Scope } from "../../../src/lifecycle/scope.js";
import { createLogger } from "../../../src/log/logger.js";

const DEFINITIONS = JSON.stringify({
  users: [],
  vhosts: [{ name: "/" }],
  permissions: [],
  policies: [],
  queues: [],
  exchanges: [],
  bindings: [],
});

let dir: string;
let server: https.Server;
let url: string;
const log = createLogger({
  level: "warn",
  pretty: false,
  destination: new Writable({ write: (_c, _e, cb) => cb() }),
});

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "backdrill-rabbitmq-tls-"));
  const f = (name: string) => path.join(dir, name);
  await execa("openssl", [
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-days",
    "1",
    "-subj",
    "/CN=test-ca",
    "-keyout",
    f("ca.key"),
    "-out",
    f("ca.pem"),
  ]);
  await execa("openssl", [
    "req",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-subj",
    "/CN=127.0.0.1",
    "-keyout",
    f("server.key"),
    "-out",
    f("server.csr"),
  ]);
  await writeFile(f("ext.cnf"), "subjectAltName=IP:127.0.0.1\n");
  await execa("openssl", [
    "x509",
    "-req",
    "-in",
    f("server.csr"),
    "-CA",
    f("ca.pem"),
    "-CAkey",
    f("ca.key"),
    "-CAcreateserial",
    "-days",
    "1",
    "-extfile",
    f("ext.cnf"),
    "-out",
    f("server.pem"),
  ]);
  server = https.createServer(
    { key: await readFile(f("server.key")), cert: await readFile(f("server.pem")) },
    (req, res) => {
      const body = req.url === "/api/overview" ? JSON.stringify({ rabbitmq_version: "4.0.5" }) : DEFINITIONS;
      res.writeHead(200, { "content-type": "application/json" }).end(body);
    },
  );
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

async function backup(tls: RabbitmqJob["tls"]): Promise<string[]> {
  const { writer, stored } = countingWriter();
  const scope = new Scope();
  try {
    await (
      await rabbitmqKind.engine()
    ).backup({
      jobFile: "jobs/mq.yaml",
      job: {
        name: "mq",
        kind: "rabbitmq",
        policy: "p",
        url,
        user: "u",
        passwordEnv: "PW",
        tls,
      } as RabbitmqJob,
      snapshot: writer,
      log,
      signal: new AbortController().signal,
      scope,
      env: { PW: "pw" },
      configDir: process.cwd(),
    });
    return stored;
  } finally {
    await scope.close();
  }
}

describe("rabbitmq over https", () => {
  it("trusts the CA in tls.caFile", async () => {
    expect(await backup({ caFile: path.join(dir, "ca.pem"), insecure: false })).toEqual(["definitions.json"]);
  });

  it("skips verification with tls.insecure", async () => {
    expect(await backup({ insecure: true })).toEqual(["definitions.json"]);
  });

  it("refuses an untrusted certificate and says what to set", async () => {
    const error = await backup(undefined).catch((e: unknown) => e as { message: string; hint?: string });
    expect(error).toMatchObject({ message: expect.stringMatching(/certificate/) as unknown });
    expect((error as { hint?: string }).hint).toContain("tls.caFile");
  });
});
