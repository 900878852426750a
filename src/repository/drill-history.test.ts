import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { generateIdentity } from "../crypto/keys.js";
import { generateSigningKey, parseSigningKey } from "../crypto/signing.js";
import { LocalBackend } from "../storage/local/local-backend.js";
import { readDrillRecords, writeDrillRecord } from "./drill-history.js";
import { layout } from "./layout.js";
import { Repository } from "./repository.js";
import { makeTrust } from "./trust.js";

let dir: string;
let keys: { identity: string; recipient: string };
const backends: LocalBackend[] = [];

function repo(options: ConstructorParameters<typeof Repository>[1] = {}): Repository {
  const backend = new LocalBackend({ path: dir });
  backends.push(backend);
  return new Repository(backend, options);
}

const input = (startedAt: string, job = "db") => ({
  job,
  drill: "nightly-restore",
  startedAt,
  report: { drill: "nightly-restore", startedAt, targets: [{ job, detail: "table public.orders" }] },
});

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "backdrill-history-"));
  keys = await generateIdentity();
});

afterEach(async () => {
  for (const backend of backends.splice(0)) await backend.close();
  await rm(dir, { recursive: true, force: true });
});

describe("drill records", () => {
  it("round-trip, oldest first, under history/<job>/drills/<stamp>-<drill>.json, encrypted", async () => {
    const repository = repo();
    const second = await writeDrillRecord(repository, [keys.recipient], input("2026-11-02T04:00:00.000Z"));
    const first = await writeDrillRecord(repository, [keys.recipient], input("2026-11-01T04:00:00.000Z"));
    expect(first).toBe(layout.drillRecord("db", "20261101T040000Z", "nightly-restore"));
    expect(second).toBe("history/db/drills/20261102T040000Z-nightly-restore.json");
    const chunks: Buffer[] = [];
    for await (const chunk of await repository.backend.get(first)) chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks).toString()).not.toContain("public.orders");
    const listing = await readDrillRecords(repository, "db", [keys.identity]);
    expect(listing.refused).toEqual([]);
    expect(listing.records.map((record) => record.key)).toEqual([first, second]);
    expect(listing.records[0]?.report).toEqual(input("2026-11-01T04:00:00.000Z").report);
  });

  it("without identities: counted, not read; with another identity: refused by name", async () => {
    const repository = repo();
    const key = await writeDrillRecord(repository, [keys.recipient], input("2026-11-01T04:00:00.000Z"));
    expect(await readDrillRecords(repository, "db", [])).toEqual({
      records: [],
      refused: [],
      skippedNoIdentity: 1,
    });
    const other = await generateIdentity();
    const listing = await readDrillRecords(repository, "db", [other.identity]);
    expect(listing.records).toEqual([]);
    expect(listing.refused[0]).toMatch(new RegExp(`^drill history ${key}: does not decrypt`));
  });

  it("signed records verify; a reader trusting another key, or requiring signatures of unsigned ones, refuses", async () => {
    const signing = generateSigningKey();
    const signer = parseSigningKey(signing.privateKeyPem, "test");
    await writeDrillRecord(repo({ signer }), [keys.recipient], input("2026-11-01T04:00:00.000Z"));
    const trusting = repo({ trust: makeTrust({ publicKeys: new Set([signing.publicKey]) }) });
    expect((await readDrillRecords(trusting, "db", [keys.identity])).records).toHaveLength(1);
    const stranger = generateSigningKey().publicKey;
    const wary = repo({ trust: makeTrust({ publicKeys: new Set([stranger]) }) });
    const refused = await readDrillRecords(wary, "db", [keys.identity]);
    expect(refused.records).toEqual([]);
    expect(refused.refused[0]).toMatch(/not a trusted signing key/);
    await writeDrillRecord(repo(), [keys.recipient], input("2026-11-02T04:00:00.000Z"));
    const unsigned = await readDrillRecords(trusting, "db", [keys.identity]);
    expect(unsigned.records).toHaveLength(1);
    expect(unsigned.refused).toEqual([
      expect.stringMatching(
        /20261102T040000Z-nightly-restore\.json: it is not signed, and signing is configured/,
      ),
    ]);
  });

  it("a record of another job copied under this job, and a record over the size cap, are refused", async () => {
    const repository = repo();
    const key = await writeDrillRecord(repository, [keys.recipient], input("2026-11-01T04:00:00.000Z", "mq"));
    const chunks: Buffer[] = [];
    for await (const chunk of await repository.backend.get(key)) chunks.push(chunk as Buffer);
    const copied = layout.drillRecord("db", "20261101T040000Z", "nightly-restore");
    await repository.backend.put(copied, Readable.from([Buffer.concat(chunks)]));
    const huge = layout.drillRecord("db", "20261103T040000Z", "nightly-restore");
    await repository.backend.put(huge, Readable.from([Buffer.alloc(1024 * 1024 + 1, 0x20)]));
    const listing = await readDrillRecords(repository, "db", [keys.identity]);
    expect(listing.records).toEqual([]);
    expect(listing.refused).toEqual([
      `drill history ${copied}: it describes drill nightly-restore of mq started 2026-11-01T04:00:00.000Z, not what its name says; not used`,
      `drill history ${huge}: 1048577 bytes, larger than 1048576; not used`,
    ]);
  });
});
