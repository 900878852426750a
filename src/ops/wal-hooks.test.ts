import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createLogger } from "../log/logger.js";
import { parseTextfile } from "./metrics.js";
import { METRICS_EVERY_MS, PING_EVERY_MS, ShipReporter, walMetrics } from "./wal-hooks.js";

const log = createLogger({ level: "silent" });
let server: Server;
let base: string;
let dir: string;
let received: Array<{ url: string; body: string }>;

beforeEach(async () => {
  received = [];
  dir = await mkdtemp(path.join(os.tmpdir(), "wal-hooks-"));
  server = createServer((request: IncomingMessage, response) => {
    let body = "";
    request.on("data", (chunk: Buffer) => (body += chunk.toString()));
    request.on("end", () => {
      received.push({ url: request.url ?? "", body });
      response.end("OK");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterEach(async () => {
  await new Promise((resolve) => server.close(resolve));
  await rm(dir, { recursive: true, force: true });
});

describe("WAL archive reporting", () => {
  it("wal push: the last archived time and the RPO in the textfile, no ping", async () => {
    const file = path.join(dir, "backdrill.prom");
    const env = { BACKDRILL_WEBHOOK_URL: `${base}/{name}` };
    await walMetrics(
      { job: "task-wal", archivedAt: new Date(1_800_000_000_000), rpoSeconds: 300 },
      { log, env, metricsFile: file },
    );
    const samples = parseTextfile(await readFile(file, "utf8"));
    expect(samples).toEqual(
      expect.arrayContaining([
        {
          name: "backdrill_wal_last_archived_timestamp_seconds",
          labels: { job: "task-wal" },
          value: 1_800_000_000,
        },
        { name: "backdrill_wal_rpo_seconds", labels: { job: "task-wal" }, value: 300 },
      ]),
    );
    expect(received).toEqual([]);
  });

  it("wal ship: metrics throttled (always when something was stored), pings per outcome at most once a minute", async () => {
    const file = path.join(dir, "backdrill.prom");
    let now = 1_000_000;
    const reporter = new ShipReporter(
      "task-wal",
      300,
      { log, env: { BACKDRILL_WEBHOOK_URL: `${base}/ping/{name}` }, metricsFile: file },
      () => now,
    );
    const spool = (files: number) => ({ files, bytes: files * 16, oldestAgeSeconds: files === 0 ? 0 : 5 });
    await reporter.round({ archivedAt: new Date(now), spool: spool(2), failures: [] });
    await reporter.settled();
    const first = parseTextfile(await readFile(file, "utf8"));
    expect(first).toEqual(
      expect.arrayContaining([
        { name: "backdrill_wal_spool_files", labels: { job: "task-wal" }, value: 2 },
        { name: "backdrill_wal_last_archived_timestamp_seconds", labels: { job: "task-wal" }, value: 1000 },
      ]),
    );
    // Nothing stored and within METRICS_EVERY_MS: the file is not rewritten.
    now += METRICS_EVERY_MS / 2;
    await reporter.round({ archivedAt: undefined, spool: spool(7), failures: [] });
    expect(parseTextfile(await readFile(file, "utf8"))).toEqual(expect.arrayContaining([first[0]]));
    expect(await readFile(file, "utf8")).toContain('backdrill_wal_spool_files{job="task-wal"} 2');
    now += METRICS_EVERY_MS;
    await reporter.round({
      archivedAt: undefined,
      spool: spool(7),
      failures: ["000000010000000000000003: disk full"],
    });
    await reporter.settled();
    expect(await readFile(file, "utf8")).toContain('backdrill_wal_spool_files{job="task-wal"} 7');
    // The last archived time stays what it was: nothing new was stored.
    expect(await readFile(file, "utf8")).toContain(
      'backdrill_wal_last_archived_timestamp_seconds{job="task-wal"} 1000',
    );
    now += 1_000;
    await reporter.round({ archivedAt: undefined, spool: spool(7), failures: ["again"] });
    await reporter.settled();
    now += PING_EVERY_MS;
    await reporter.round({ archivedAt: new Date(now), spool: spool(0), failures: [] });
    await reporter.settled();
    expect(received.map((entry) => entry.url)).toEqual([
      "/ping/task-wal-wal",
      "/ping/task-wal-wal/fail",
      "/ping/task-wal-wal",
    ]);
    expect(received[1]?.body).toContain("000000010000000000000003: disk full");
  });
});
