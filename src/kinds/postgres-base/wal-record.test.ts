/**
 * The signed WAL record (wal-record.ts) through WalArchive on a local repository: what `push`
 * writes, what `fetch` trusts, and `push` racing itself. The record-first protocol is what keeps
 * a concurrent push of other content from reporting "already archived" without storing anything.
 */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { encryptBuffer } from "../../crypto/buffer.js";
import { generateIdentity } from "../../crypto/keys.js";
import { generateSigningKey, parseSigningKey } from "../../crypto/signing.js";
import { Repository } from "../../repository/repository.js";
import { makeTrust } from "../../repository/trust.js";
import { LocalBackend } from "../../storage/local/local-backend.js";
import { WalArchive } from "./wal-archive.js";

const signer = parseSigningKey(generateSigningKey().privateKeyPem, "test");
const SEGMENT = "000000010000000000000003";
let dir: string;
let backend: LocalBackend;
let key: { identity: string; recipient: string };

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "wal-record-"));
  backend = new LocalBackend({ path: path.join(dir, "repo") });
  key = await generateIdentity();
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The archive as the backup host (signing) or a reader (trusting the key) sees it. */
function archive(as: "writer" | "reader" | "unsigned" | "allow-unsigned", job = "task-wal"): WalArchive {
  const keys = new Set([signer.publicKey]);
  const options =
    as === "writer"
      ? { trust: makeTrust({ publicKeys: keys }), signer }
      : as === "reader"
        ? { trust: makeTrust({ publicKeys: keys }) }
        : as === "allow-unsigned"
          ? { trust: makeTrust({ publicKeys: keys, allowUnsigned: true }) }
          : {};
  return new WalArchive(new Repository(backend, options), job);
}

async function walFile(name: string, content: string): Promise<string> {
  const file = path.join(dir, `${name}-${Math.random()}`);
  await writeFile(file, content);
  return file;
}

const fetchTo = (as: Parameters<typeof archive>[0], name = SEGMENT, job = "task-wal") =>
  archive(as, job).fetch(name, path.join(dir, `out-${Math.random()}`), [key.identity]);

describe("signed WAL records", () => {
  it("push writes a signed record of job, name, sha256 and size; fetch trusts it", async () => {
    expect(
      await archive("writer").push(await walFile(SEGMENT, "segment three"), [key.recipient], {
        name: SEGMENT,
      }),
    ).toBe("stored");
    const record = JSON.parse(
      await readFile(path.join(dir, "repo/wal/task-wal", `${SEGMENT}.sha256`), "utf8"),
    ) as Record<string, unknown>;
    expect(record).toMatchObject({ format: 1, job: "task-wal", segment: SEGMENT, size: 13 });
    expect(record.signature).toMatchObject({ algorithm: "ed25519", publicKey: signer.publicKey });
    expect(await fetchTo("reader")).toBe(true);
  });

  it("a WAL file encrypted to the public recipient by someone else is refused, with or without a record", async () => {
    // The attacker knows the recipient (it is public) and can write to the repository.
    const forged = await encryptBuffer(Buffer.from("DROP TABLE users"), [key.recipient]);
    await backend.put(`wal/task-wal/${SEGMENT}.age`, Readable.from([forged]));
    await expect(fetchTo("reader")).rejects.toThrow(
      /has no record, and signing is configured; refusing to use it/,
    );
    await backend.put(
      `wal/task-wal/${SEGMENT}.sha256`,
      Readable.from([
        JSON.stringify({ format: 1, job: "task-wal", segment: SEGMENT, sha256: "0".repeat(64), size: 16 }),
      ]),
    );
    await expect(fetchTo("reader")).rejects.toThrow(
      /its record: it is not signed, and signing is configured/,
    );
    // Not even with --allow-unsigned: the unsigned record does not describe what decrypts.
    await expect(fetchTo("allow-unsigned")).rejects.toThrow(/does not match its recorded digest/);
  });

  it("a genuine record and segment replayed under another name or job are refused", async () => {
    await archive("writer").push(await walFile(SEGMENT, "segment three"), [key.recipient], { name: SEGMENT });
    const other = "000000010000000000000004";
    for (const [job, name] of [
      ["task-wal", other],
      ["other-wal", SEGMENT],
    ] as const) {
      for (const suffix of [".age", ".sha256"]) {
        const bytes = await readFile(path.join(dir, "repo/wal/task-wal", `${SEGMENT}${suffix}`));
        await backend.put(`wal/${job}/${name}${suffix}`, Readable.from([bytes]), { overwrite: true });
      }
      await expect(fetchTo("reader", name, job)).rejects.toThrow(
        /its record describes task-wal\/000000010000000000000003/,
      );
    }
  });

  it("an altered record is refused", async () => {
    await archive("writer").push(await walFile(SEGMENT, "segment three"), [key.recipient], { name: SEGMENT });
    const file = path.join(dir, "repo/wal/task-wal", `${SEGMENT}.sha256`);
    const record = JSON.parse(await readFile(file, "utf8")) as Record<string, unknown>;
    await writeFile(file, JSON.stringify({ ...record, size: 14 }));
    await expect(fetchTo("reader")).rejects.toThrow(/signature does not match its content/);
  });

  it("legacy digests (archived before records) are read without signing, refused with it unless allowed", async () => {
    await archive("unsigned").push(await walFile(SEGMENT, "legacy"), [key.recipient], { name: SEGMENT });
    const file = path.join(dir, "repo/wal/task-wal", `${SEGMENT}.sha256`);
    const record = JSON.parse(await readFile(file, "utf8")) as { sha256: string };
    await writeFile(file, `${record.sha256}\n`);
    expect(await fetchTo("unsigned")).toBe(true);
    await expect(fetchTo("reader")).rejects.toThrow(/unsigned digest .*archived before signing/);
    expect(await fetchTo("allow-unsigned")).toBe(true);
    // push still compares against it.
    expect(
      await archive("writer").push(await walFile(SEGMENT, "legacy"), [key.recipient], { name: SEGMENT }),
    ).toBe("already-archived");
  });

  it("concurrent pushes of different content: exactly one is stored, every other one is refused", async () => {
    for (let round = 0; round < 8; round++) {
      const name = `0000000100000000000000${String(10 + round).padStart(2, "0")}`;
      const contents = ["alpha", "bravo", "charlie", "delta"].map((word) => `${word}-${round}`);
      const results = await Promise.allSettled(
        contents.map(async (content) =>
          archive("writer").push(await walFile(name, content), [key.recipient], { name }),
        ),
      );
      const stored = results.flatMap((result, index) =>
        result.status === "fulfilled" ? [{ index, result }] : [],
      );
      expect(stored).toHaveLength(1);
      expect(stored[0]?.result.status === "fulfilled" && stored[0].result.value).toBe("stored");
      for (const result of results) {
        if (result.status === "rejected") expect(String(result.reason)).toMatch(/different content/);
      }
      const dest = path.join(dir, `check-${round}`);
      expect(await archive("reader").fetch(name, dest, [key.identity])).toBe(true);
      expect(await readFile(dest, "utf8")).toBe(contents[stored[0]!.index]);
    }
  });

  it("a push killed between record and ciphertext completes on retry with the same file", async () => {
    const writer = archive("writer");
    const file = await walFile(SEGMENT, "segment three");
    await writer.push(file, [key.recipient], { name: SEGMENT });
    await backend.delete(`wal/task-wal/${SEGMENT}.age`); // as if killed before the ciphertext landed
    expect(await writer.push(file, [key.recipient], { name: SEGMENT })).toBe("stored");
    await expect(
      writer.push(await walFile(SEGMENT, "other"), [key.recipient], { name: SEGMENT }),
    ).rejects.toThrow(/different content/);
    expect(await fetchTo("reader")).toBe(true);
  });
});
