/**
 * The one conformance suite every `Backend` must pass (restic's internal/backend/test/suite.go
 * plays the same role there). Integration tests call `describeBackendConformance` with a factory
 * for a real backend — a temp directory, a bucket on a real S3 server — never a mock.
 *
 * Every test works under its own random key namespace, so tests are independent of each other
 * and of leftovers, and listings can be asserted exactly.
 */
import { createHash, randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AlreadyExistsError, NotFoundError, UsageError } from "../../src/errors.js";
import { type Backend, compareKeys, type ObjectInfo } from "../../src/storage/backend.js";

export interface BackendFixture {
  backend: Backend;
  cleanup(): Promise<void>;
}

export interface ConformanceOptions {
  /** Keys for the pagination test; must exceed the backend's page size (S3: 1000). Default 1100. */
  manyKeys?: number;
}

const MIB = 1024 * 1024;
const LARGE = 20 * MIB;

/** Deterministic bytes whose value depends on the absolute offset, so misplaced ranges show. */
export function patternBytes(offset: number, length: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) {
    const n = offset + i;
    out[i] = (n * 31 + (n >>> 8) * 7 + (n >>> 16) * 13 + (n >>> 24)) & 0xff;
  }
  return out;
}

/** A stream of `size` pattern bytes, generated lazily in `chunkSize` pieces (not held in memory). */
export function patternStream(size: number, chunkSize = 256 * 1024): Readable {
  let offset = 0;
  return new Readable({
    read() {
      if (offset >= size) {
        this.push(null);
        return;
      }
      const length = Math.min(chunkSize, size - offset);
      this.push(patternBytes(offset, length));
      offset += length;
    },
  });
}

/**
 * Emits `bytes` pattern bytes and then either fails with `error` or stalls until destroyed.
 * `reached` resolves once all bytes were pulled by the consumer.
 */
export function interruptedStream(
  bytes: number,
  then: { fail: Error } | "stall",
): { stream: Readable; reached: Promise<void> } {
  let offset = 0;
  let markReached!: () => void;
  const reached = new Promise<void>((resolve) => (markReached = resolve));
  const stream = new Readable({
    read() {
      if (offset < bytes) {
        const length = Math.min(256 * 1024, bytes - offset);
        this.push(patternBytes(offset, length));
        offset += length;
        return;
      }
      markReached();
      if (then !== "stall") this.destroy(then.fail);
      // stall: push nothing more; the consumer waits until someone destroys us
    },
  });
  return { stream, reached };
}

export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream)
    chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string));
  return Buffer.concat(chunks);
}

export function sha256(data: Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}

export async function collect(iterable: AsyncIterable<ObjectInfo>): Promise<ObjectInfo[]> {
  const out: ObjectInfo[] = [];
  for await (const info of iterable) out.push(info);
  return out;
}

async function keysOf(backend: Backend, prefix: string): Promise<string[]> {
  return (await collect(backend.list(prefix))).map((info) => info.key);
}

/** Runs `tasks` with at most `limit` in flight. */
async function inParallel<T>(
  items: readonly T[],
  limit: number,
  task: (item: T) => Promise<unknown>,
): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++] as T;
      await task(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

function isAbortError(error: unknown): boolean {
  return error instanceof Error && error.name === "AbortError";
}

export function describeBackendConformance(
  name: string,
  setup: () => Promise<BackendFixture>,
  options: ConformanceOptions = {},
): void {
  describe(`Backend conformance: ${name}`, () => {
    let fixture: BackendFixture | undefined;
    let counter = 0;
    const backend = (): Backend => {
      if (fixture === undefined) throw new Error("setup did not run");
      return fixture.backend;
    };
    /** A fresh key namespace ("c7-1a2b3c/") for one test. */
    const ns = (): string => `c${++counter}-${randomBytes(3).toString("hex")}/`;
    const put = (key: string, data: Buffer | string, overwrite = false): Promise<{ size: number }> =>
      backend().put(key, Readable.from([Buffer.from(data)]), { overwrite });
    const get = async (key: string): Promise<Buffer> => readAll(await backend().get(key));

    beforeAll(async () => {
      fixture = await setup();
    });

    afterAll(async () => {
      if (fixture === undefined) return;
      await fixture.backend.close();
      await fixture.cleanup();
    });

    it("reports a location without credentials", () => {
      expect(backend().location).toBeTypeOf("string");
      expect(backend().location.length).toBeGreaterThan(0);
      expect(backend().location).not.toMatch(/:[^/@\s]+@/); // no user:password@
    });

    describe("put and get", () => {
      it("round-trips an empty object", async () => {
        const key = `${ns()}empty`;
        expect(await backend().put(key, Readable.from([]))).toEqual({ size: 0 });
        expect((await get(key)).length).toBe(0);
        expect((await backend().stat(key))?.size).toBe(0);
        expect((await collect(backend().list(key))).map((info) => info.size)).toEqual([0]);
      });

      it("round-trips a small object", async () => {
        const key = `${ns()}small.bin`;
        const data = randomBytes(1000);
        expect(await put(key, data)).toEqual({ size: 1000 });
        expect((await get(key)).equals(data)).toBe(true);
      });

      it("streams a 20 MiB object in and out without holding it whole", async () => {
        const key = `${ns()}large.bin`;
        const expected = sha256(patternBytes(0, LARGE));
        expect(await backend().put(key, patternStream(LARGE), { contentLength: LARGE })).toEqual({
          size: LARGE,
        });
        const stream = await backend().get(key);
        const hash = createHash("sha256");
        let size = 0;
        for await (const chunk of stream) {
          hash.update(chunk as Buffer);
          size += (chunk as Buffer).length;
        }
        expect(size).toBe(LARGE);
        expect(hash.digest("hex")).toBe(expected);
        // A range across the first multipart boundary (8 and 16 MiB part sizes both covered).
        for (const boundary of [8 * MIB, 16 * MIB]) {
          const range = { offset: boundary - 100, length: 200 };
          const bytes = await readAll(await backend().get(key, { range }));
          expect(bytes.equals(patternBytes(range.offset, range.length))).toBe(true);
        }
      });

      it("stores exactly what the stream held across many small chunks", async () => {
        const key = `${ns()}chunked`;
        const chunks = Array.from({ length: 500 }, (_, i) => randomBytes(i % 7 === 0 ? 0 : 1 + (i % 300)));
        const all = Buffer.concat(chunks);
        expect(await backend().put(key, Readable.from(chunks))).toEqual({ size: all.length });
        expect((await get(key)).equals(all)).toBe(true);
      });

      it("accepts a correct contentLength and rejects a short or long body, storing nothing", async () => {
        const base = ns();
        await backend().put(`${base}ok`, Readable.from([Buffer.from("12345")]), { contentLength: 5 });
        await expect(
          backend().put(`${base}short`, Readable.from([Buffer.from("1234")]), { contentLength: 5 }),
        ).rejects.toThrow(/expected 5/);
        await expect(
          backend().put(`${base}long`, Readable.from([Buffer.from("123456")]), { contentLength: 5 }),
        ).rejects.toThrow(/expected 5/);
        expect(await keysOf(backend(), base)).toEqual([`${base}ok`]);
      });
    });

    describe("stat", () => {
      it("returns size and modification time", async () => {
        const key = `${ns()}stat.bin`;
        const before = Date.now();
        await put(key, randomBytes(1234));
        const after = Date.now();
        const info = await backend().stat(key);
        expect(info?.key).toBe(key);
        expect(info?.size).toBe(1234);
        // S3 has second resolution and the server's clock; allow some slack.
        expect(info?.modified.getTime()).toBeGreaterThanOrEqual(before - 5000);
        expect(info?.modified.getTime()).toBeLessThanOrEqual(after + 5000);
      });

      it("returns null for a missing key, and get rejects with NotFoundError", async () => {
        const key = `${ns()}missing`;
        expect(await backend().stat(key)).toBeNull();
        const error = await backend()
          .get(key)
          .then(
            () => undefined,
            (reason: unknown) => reason,
          );
        expect(error).toBeInstanceOf(NotFoundError);
        expect((error as NotFoundError).key).toBe(key);
        await expect(backend().get(key, { range: { offset: 0, length: 10 } })).rejects.toBeInstanceOf(
          NotFoundError,
        );
        await expect(backend().get(key, { range: { offset: 0, length: 0 } })).rejects.toBeInstanceOf(
          NotFoundError,
        );
      });

      it("treats a 'directory' (a prefix of other keys) as missing", async () => {
        const base = ns();
        await put(`${base}dir/file`, "x");
        expect(await backend().stat(`${base}dir`)).toBeNull();
        await expect(backend().get(`${base}dir`)).rejects.toBeInstanceOf(NotFoundError);
        await backend().delete(`${base}dir`);
        expect(await get(`${base}dir/file`)).toEqual(Buffer.from("x"));
      });
    });

    describe("list", () => {
      it("lists by string prefix, in UTF-8 byte order, with sizes", async () => {
        const base = ns();
        const names = ["a-b", "a/b", "a/c/d", "a0", "ab", "b", "é", "\u{1F600}", "\uFF61", "Z"];
        await inParallel(names, 8, (n) => put(`${base}${n}`, n));
        const all = await collect(backend().list(base));
        const expected = names.map((n) => `${base}${n}`).sort(compareKeys);
        expect(all.map((info) => info.key)).toEqual(expected);
        for (const info of all) expect(info.size).toBe(Buffer.byteLength(info.key.slice(base.length)));
        expect(await keysOf(backend(), `${base}a`)).toEqual(
          [`${base}a-b`, `${base}a/b`, `${base}a/c/d`, `${base}a0`, `${base}ab`].sort(compareKeys),
        );
        expect(await keysOf(backend(), `${base}a/`)).toEqual([`${base}a/b`, `${base}a/c/d`]);
        expect(await keysOf(backend(), `${base}a/c`)).toEqual([`${base}a/c/d`]);
        expect(await keysOf(backend(), `${base}a/b`)).toEqual([`${base}a/b`]);
        expect(await keysOf(backend(), `${base}nothing`)).toEqual([]);
        expect(await keysOf(backend(), `${base}nothing/deeper/`)).toEqual([]);
      });

      it("includes the namespace in a listing of everything", async () => {
        const base = ns();
        await put(`${base}k`, "v");
        expect(await keysOf(backend(), "")).toContain(`${base}k`);
      });

      it(`pages through more keys than one listing page holds`, async () => {
        const base = ns();
        const count = options.manyKeys ?? 1100;
        const keys = Array.from({ length: count }, (_, i) => `${base}${String(i).padStart(5, "0")}`);
        await inParallel(keys, 32, (key) => put(key, "."));
        const listed = await keysOf(backend(), base);
        expect(listed.length).toBe(count);
        expect(listed).toEqual(keys);
      });
    });

    describe("delete", () => {
      it("removes an object and is idempotent", async () => {
        const base = ns();
        await put(`${base}x`, "1");
        await put(`${base}y`, "2");
        await backend().delete(`${base}x`);
        expect(await backend().stat(`${base}x`)).toBeNull();
        await expect(backend().get(`${base}x`)).rejects.toBeInstanceOf(NotFoundError);
        await backend().delete(`${base}x`);
        await backend().delete(`${base}never-existed`);
        await backend().delete(`${base}no/such/dir/key`);
        expect(await keysOf(backend(), base)).toEqual([`${base}y`]);
      });

      it("lets a deleted key be written again without overwrite", async () => {
        const key = `${ns()}again`;
        await put(key, "first");
        await backend().delete(key);
        await put(key, "second");
        expect((await get(key)).toString()).toBe("second");
      });
    });

    describe("overwrite", () => {
      it("overwrite:false refuses an existing key, keeps the original and destroys the body", async () => {
        const key = `${ns()}once`;
        await put(key, "original");
        const body = Readable.from([Buffer.from("replacement")]);
        await expect(backend().put(key, body)).rejects.toBeInstanceOf(AlreadyExistsError);
        await expect(backend().put(key, patternStream(LARGE), { overwrite: false })).rejects.toBeInstanceOf(
          AlreadyExistsError,
        );
        expect(body.destroyed).toBe(true);
        expect((await get(key)).toString()).toBe("original");
      });

      it("overwrite:true replaces the content", async () => {
        const key = `${ns()}twice`;
        await put(key, "original");
        expect(await put(key, "new and longer", true)).toEqual({ size: 14 });
        expect((await get(key)).toString()).toBe("new and longer");
        expect((await backend().stat(key))?.size).toBe(14);
        await put(key, "s", true);
        expect((await get(key)).toString()).toBe("s");
      });

      it("lets exactly one of several concurrent conditional writers win", async () => {
        const key = `${ns()}race`;
        const contents = Array.from({ length: 6 }, (_, i) => `writer-${i}-${"x".repeat(i * 1000)}`);
        const results = await Promise.allSettled(contents.map((content) => put(key, content)));
        const winners = results.filter((result) => result.status === "fulfilled");
        expect(winners.length).toBe(1);
        for (const result of results) {
          if (result.status === "rejected") expect(result.reason).toBeInstanceOf(AlreadyExistsError);
        }
        const winner = contents[results.findIndex((result) => result.status === "fulfilled")];
        expect((await get(key)).toString()).toBe(winner);
      });
    });

    describe("range get", () => {
      it("returns the requested bytes, short at the end, empty past it", async () => {
        const key = `${ns()}range.bin`;
        const data = patternBytes(0, 1000);
        await put(key, data);
        const range = async (offset: number, length: number): Promise<Buffer> =>
          readAll(await backend().get(key, { range: { offset, length } }));
        expect((await range(10, 20)).equals(data.subarray(10, 30))).toBe(true);
        expect((await range(0, 1)).equals(data.subarray(0, 1))).toBe(true);
        expect((await range(999, 1)).equals(data.subarray(999))).toBe(true);
        expect((await range(990, 100)).equals(data.subarray(990))).toBe(true);
        expect((await range(0, 1000)).equals(data)).toBe(true);
        expect((await range(1000, 5)).length).toBe(0);
        expect((await range(5000, 5)).length).toBe(0);
        expect((await range(10, 0)).length).toBe(0);
      });

      it("rejects a negative or fractional range", async () => {
        const key = `${ns()}r`;
        await put(key, "abc");
        await expect(backend().get(key, { range: { offset: -1, length: 1 } })).rejects.toBeInstanceOf(
          UsageError,
        );
        await expect(backend().get(key, { range: { offset: 0, length: 1.5 } })).rejects.toBeInstanceOf(
          UsageError,
        );
      });
    });

    describe("atomicity and failures", () => {
      it("shows nothing while a put is in flight, and nothing after it is aborted (small)", async () => {
        const base = ns();
        const key = `${base}aborted-small`;
        const controller = new AbortController();
        const { stream, reached } = interruptedStream(100_000, "stall");
        const pending = backend().put(key, stream, { signal: controller.signal });
        await reached;
        expect(await backend().stat(key)).toBeNull();
        expect(await keysOf(backend(), base)).toEqual([]);
        controller.abort();
        const error = await pending.then(
          () => undefined,
          (reason: unknown) => reason,
        );
        expect(isAbortError(error)).toBe(true);
        expect(stream.destroyed).toBe(true);
        expect(await backend().stat(key)).toBeNull();
        expect(await keysOf(backend(), base)).toEqual([]);
      });

      it("leaves nothing visible after an abort in the middle of a large put", async () => {
        const base = ns();
        const key = `${base}aborted-large`;
        const controller = new AbortController();
        const { stream, reached } = interruptedStream(LARGE, "stall");
        const pending = backend().put(key, stream, { signal: controller.signal });
        await reached;
        controller.abort();
        await expect(pending).rejects.toSatisfy(isAbortError);
        expect(await backend().stat(key)).toBeNull();
        expect(await keysOf(backend(), base)).toEqual([]);
      });

      it("rejects a put whose signal is already aborted without storing anything", async () => {
        const key = `${ns()}pre-aborted`;
        const controller = new AbortController();
        controller.abort();
        await expect(
          backend().put(key, patternStream(1000), { signal: controller.signal }),
        ).rejects.toSatisfy(isAbortError);
        expect(await backend().stat(key)).toBeNull();
      });

      for (const [label, bytes] of [
        ["early", 1000],
        ["after several MiB", 17 * MIB],
      ] as const) {
        it(`leaves nothing visible when the body stream fails ${label}`, async () => {
          const base = ns();
          const key = `${base}failing`;
          const failure = new Error(`producer died (${label})`);
          const { stream } = interruptedStream(bytes, { fail: failure });
          await expect(backend().put(key, stream)).rejects.toThrow(failure.message);
          expect(await backend().stat(key)).toBeNull();
          expect(await keysOf(backend(), base)).toEqual([]);
        });
      }

      it("keeps the old content when an overwrite fails mid-stream", async () => {
        const key = `${ns()}keep`;
        await put(key, "old");
        const { stream } = interruptedStream(5000, { fail: new Error("boom") });
        await expect(backend().put(key, stream, { overwrite: true })).rejects.toThrow("boom");
        expect((await get(key)).toString()).toBe("old");
      });
    });

    describe("keys", () => {
      const invalid = [
        "",
        "/absolute",
        "trailing/",
        "a//b",
        "a/../b",
        "..",
        "./a",
        "a/.",
        "back\\slash",
        "nul\u0000byte",
        "new\nline",
        ".tmp-reserved",
        "a/.tmp-reserved",
        "x".repeat(256),
        "lone\uD800surrogate",
      ];

      it.each(invalid.map((key) => [JSON.stringify(key).slice(0, 40), key]))(
        "rejects key %s with UsageError everywhere",
        async (_label, key) => {
          const body = Readable.from([Buffer.from("x")]);
          await expect(backend().put(key, body)).rejects.toBeInstanceOf(UsageError);
          expect(body.destroyed).toBe(true);
          await expect(backend().get(key)).rejects.toBeInstanceOf(UsageError);
          await expect(backend().stat(key)).rejects.toBeInstanceOf(UsageError);
          await expect(backend().delete(key)).rejects.toBeInstanceOf(UsageError);
        },
      );

      it("rejects invalid list prefixes", async () => {
        for (const prefix of ["/abs", "../", "a//", "a/../"]) {
          await expect(collect(backend().list(prefix))).rejects.toBeInstanceOf(UsageError);
        }
      });

      it("round-trips keys with spaces, punctuation and Unicode", async () => {
        const base = ns();
        const names = [
          "dir with spaces/file name.age",
          "файл/ünïcödé 🎉.bin",
          "a+b=c&d?e#f.bin",
          "percent%20not-decoded",
          "日本語/テスト",
          "quote'\"bracket[]{}",
          "café", // NFC
          "cafe\u0301", // NFD: a different key
        ];
        await inParallel(names, 4, (n) => put(`${base}${n}`, n));
        for (const n of names) expect((await get(`${base}${n}`)).toString()).toBe(n);
        expect(await keysOf(backend(), base)).toEqual(names.map((n) => `${base}${n}`).sort(compareKeys));
        expect(await keysOf(backend(), `${base}файл/`)).toEqual([`${base}файл/ünïcödé 🎉.bin`]);
      });
    });
  });
}
