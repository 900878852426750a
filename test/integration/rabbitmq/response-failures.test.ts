/**
 * A rabbitmq backup fails with a clear error, and stores nothing, when the management API's
 * answer is not a whole definitions export: 401, an HTML error page from a proxy, a truncated
 * body, JSON without the definitions lists, a refused connection. A local HTTP server on
 * 127.0.0.1 plays the broker so each failure is exact.
 */
import http from "node:http";
import { countingWriter } from "../../support/counting-writer.js";
import type { AddressInfo } from "node:net";
import { Writable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RabbitmqJob } from "../../../src/kinds/rabbitmq/job-schema.js";
import { rabbitmqKind } from "../../../src/kinds/rabbitmq/index.js";
import { Scope } from "../../../src/lifecycle/scope.js";
import { createLogger } from "../../../src/log/logger.js";

const PASSWORD = "mgmt-pw-7c1d";
const OVERVIEW = JSON.stringify({
  rabbitmq_version: "4.0.5",
  management_version: "4.0.5",
  product_name: "RabbitMQ",
});
const GOOD = JSON.stringify({
  users: [],
  vhosts: [{ name: "/" }],
  permissions: [],
  policies: [],
  queues: [],
  exchanges: [],
  bindings: [],
});

type Behaviour = (res: http.ServerResponse) => void;
let definitions: Behaviour;
let server: http.Server;
let url: string;

const log = createLogger({
  level: "warn",
  pretty: false,
  destination: new Writable({ write: (_c, _e, cb) => cb() }),
});

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const expected = `Basic ${Buffer.from(`backup:${PASSWORD}`).toString("base64")}`;
    if (req.headers.authorization !== expected) {
      res
        .writeHead(401, { "www-authenticate": 'Basic realm="RabbitMQ Management"', "content-length": "0" })
        .end();
      return;
    }
    if (req.url === "/api/overview") {
      res.writeHead(200, { "content-type": "application/json" }).end(OVERVIEW);
      return;
    }
    definitions(res);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

async function backup(password = PASSWORD, target = url): Promise<{ stored: string[] }> {
  const { writer, stored } = countingWriter();
  const scope = new Scope();
  try {
    await (
      await rabbitmqKind.engine()
    ).backup({
      jobFile: "jobs/mq.yaml",
      job: {
        name: "task-rabbitmq",
        kind: "rabbitmq",
        policy: "p",
        url: target,
        user: "backup",
        passwordEnv: "MQ_PW",
      } as RabbitmqJob,
      snapshot: writer,
      log,
      signal: new AbortController().signal,
      scope,
      env: { MQ_PW: password },
      configDir: process.cwd(),
    });
    return { stored };
  } catch (error) {
    expect(stored).toEqual([]);
    throw error;
  } finally {
    await scope.close();
  }
}

describe("rabbitmq backup refuses bad responses", () => {
  it("stores the definitions when the answer is whole", async () => {
    definitions = (res) => res.writeHead(200, { "content-type": "application/json" }).end(GOOD);
    expect((await backup()).stored).toEqual(["definitions.json"]);
  });

  it("fails on an authentication failure, without echoing the password", async () => {
    const error = await backup("wrong-pw-123").catch((e: Error) => e);
    expect(String(error)).toMatch(
      /job task-rabbitmq: GET http:\/\/127\.0\.0\.1:\d+\/api\/overview: authentication failed \(HTTP 401\) for user backup/,
    );
    expect(String(error)).not.toContain("wrong-pw-123");
  });

  it("fails on an HTML error page", async () => {
    definitions = (res) =>
      res
        .writeHead(502, { "content-type": "text/html" })
        .end("<html><body><h1>502 Bad Gateway</h1></body></html>");
    await expect(backup()).rejects.toThrow(/HTTP 502: 502 Bad Gateway/);
    definitions = (res) =>
      res.writeHead(200, { "content-type": "text/html" }).end("<html><body>Login</body></html>");
    await expect(backup()).rejects.toThrow(/expected JSON, got an HTML page: Login/);
  });

  it("fails on a truncated body (connection cut) and on truncated JSON", async () => {
    definitions = (res) => {
      res.writeHead(200, { "content-type": "application/json", "content-length": String(GOOD.length) });
      res.write(GOOD.slice(0, 20));
      setTimeout(() => res.destroy(), 20);
    };
    await expect(backup()).rejects.toThrow(
      /truncated|before the response was complete|socket hang up|aborted/,
    );
    definitions = (res) => res.writeHead(200, { "content-type": "application/json" }).end(GOOD.slice(0, -10));
    await expect(backup()).rejects.toThrow(/not valid JSON \(truncated or damaged/);
  });

  it("fails on JSON without the definitions lists", async () => {
    definitions = (res) =>
      res
        .writeHead(200, { "content-type": "application/json" })
        .end(JSON.stringify({ users: [], vhosts: [] }));
    await expect(backup()).rejects.toThrow(
      /not a complete definitions export: missing permissions, policies, queues, exchanges, bindings/,
    );
  });

  it("fails clearly when nothing listens", async () => {
    await expect(backup(PASSWORD, "http://127.0.0.1:1")).rejects.toThrow(/ECONNREFUSED/);
  });
});
