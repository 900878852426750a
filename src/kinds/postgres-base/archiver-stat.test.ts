import net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { archiverFailing, type ArchiverStats } from "../postgres/archiver.js";
import { archiverSource } from "./archiver-stat.js";

let server: net.Server | undefined;
const sockets: net.Socket[] = [];

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  await new Promise<void>((resolve) => (server === undefined ? resolve() : server.close(() => resolve())));
  server = undefined;
});

/** A server that accepts TCP and never says a word: a hung database or a half-open tunnel. */
async function silentServer(): Promise<number> {
  server = net.createServer((socket) => sockets.push(socket));
  await new Promise<void>((resolve) => server?.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

const job = (port: number) => ({
  name: "task-wal",
  connection: { host: "127.0.0.1", port, user: "backup", passwordEnv: "ARCHIVER_TEST_PW" },
});

const stats = (overrides: Partial<ArchiverStats>): ArchiverStats => ({
  archivedCount: 10,
  lastArchivedWal: "000000010000000000000009",
  lastArchivedAgeSeconds: 30,
  failedCount: 0,
  lastFailedWal: null,
  lastFailedAgeSeconds: null,
  statsReset: null,
  ...overrides,
});

describe("archiver source for status", () => {
  it("a silent server is unknown (not a breach) within the timeout, not a hang", async () => {
    const port = await silentServer();
    const started = Date.now();
    const source = await archiverSource({
      job: job(port),
      env: { ARCHIVER_TEST_PW: "secret-pw-123" },
      configDir: "/",
      timeoutSeconds: 1,
    });
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(source.ok).toBeNull();
    expect(source.stats).toBeNull();
    expect(source.detail).toMatch(/cannot read pg_stat_archiver from backup@127\.0\.0\.1:\d+/);
    expect(source.detail).not.toContain("secret-pw-123");
  });

  it("a missing password is unknown with the reason, naming the variable", async () => {
    const source = await archiverSource({ job: job(1), env: {}, configDir: "/" });
    expect(source.ok).toBeNull();
    expect(source.detail).toContain("ARCHIVER_TEST_PW");
  });

  it("failing only while the newest attempt failed", () => {
    expect(archiverFailing(stats({}))).toBe(false);
    expect(archiverFailing(stats({ failedCount: 3, lastFailedAgeSeconds: 5 }))).toBe(true);
    // An old failure followed by successes has recovered.
    expect(archiverFailing(stats({ failedCount: 3, lastFailedAgeSeconds: 300 }))).toBe(false);
    expect(
      archiverFailing(
        stats({ lastArchivedWal: null, lastArchivedAgeSeconds: null, lastFailedAgeSeconds: 900 }),
      ),
    ).toBe(true);
  });
});
