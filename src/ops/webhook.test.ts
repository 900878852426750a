import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createLogger } from "../log/logger.js";
import { ping, pingIfConfigured, pingUrl, webhookUrl } from "./webhook.js";

const log = createLogger({ level: "silent" });
let server: Server;
let base: string;
let received: Array<{ method: string; url: string; body: string }>;
let status: number;

beforeEach(async () => {
  received = [];
  status = 200;
  server = createServer((request: IncomingMessage, response) => {
    let body = "";
    request.on("data", (chunk: Buffer) => (body += chunk.toString()));
    request.on("end", () => {
      received.push({ method: request.method ?? "", url: request.url ?? "", body });
      response.statusCode = status;
      response.end("OK");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterEach(async () => {
  await new Promise((resolve) => server.close(resolve));
});

describe("healthchecks-style webhook", () => {
  it("pings <url>/start, <url> and <url>/fail with the name substituted", async () => {
    const env = { BACKDRILL_WEBHOOK_URL: `${base}/ping/KEY/backdrill-{name}` };
    await pingIfConfigured(env, "task-db", "start", { log });
    await pingIfConfigured(env, "task-db", "success", { log, body: "snapshot 20261128T021500Z-3f9a1c" });
    await pingIfConfigured(env, "task-files", "fail", { log, body: "rsync failed" });
    expect(received).toEqual([
      { method: "POST", url: "/ping/KEY/backdrill-task-db/start", body: "" },
      { method: "POST", url: "/ping/KEY/backdrill-task-db", body: "snapshot 20261128T021500Z-3f9a1c" },
      { method: "POST", url: "/ping/KEY/backdrill-task-files/fail", body: "rsync failed" },
    ]);
  });

  it("keeps a query string and tolerates a trailing slash", () => {
    expect(pingUrl(new URL("https://hc.example/abc/?rid=1"), "fail").toString()).toBe(
      "https://hc.example/abc/fail?rid=1",
    );
  });

  it("does nothing without the env var and never throws on a broken URL or server", async () => {
    await pingIfConfigured({}, "task-db", "success", { log });
    await pingIfConfigured({ BACKDRILL_WEBHOOK_URL: "not a url" }, "task-db", "success", { log });
    expect(() => webhookUrl({ BACKDRILL_WEBHOOK_URL: "ftp://x/y" }, "a")).toThrow(/http/);
    status = 404;
    expect(await ping(new URL(`${base}/gone`), "success", { log })).toBe(false);
    expect(received).toHaveLength(1); // a 4xx is not retried
    status = 503;
    expect(await ping(new URL(`${base}/flaky`), "success", { log, timeoutMs: 2_000 })).toBe(false);
    expect(received).toHaveLength(4); // 5xx: three attempts
    // Nothing listens here any more after close; a connection error resolves false.
    expect(await ping(new URL("http://127.0.0.1:1/x"), "fail", { log, timeoutMs: 1_000 })).toBe(false);
  });
});
