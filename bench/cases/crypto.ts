/**
 * Encryption throughput and memory: backdrill's age against the Go `age` CLI, file → /dev/null,
 * both directions, on random data:
 *   - the file API (encryptFile / decryptFile: the payload on the addon's worker threads),
 *   - the streams (createReadStream → Transform → createWriteStream, the way artifacts flow),
 *     on the native addon and on the node:crypto fallback (BACKDRILL_NATIVE_CRYPTO=0),
 *   - the AEAD alone and the Node streams alone, no crypto (ceilings), and
 *   - the scale rows: the native file API and streams again at larger sizes, to show that time
 *     grows linearly and peak memory stays flat.
 *
 * BENCH_CRYPTO_SIZES_MIB: comma-separated sizes; the first gets every row, the others the scale
 * rows. Default: BENCH_SIZE_MIB and ten times that (1024,10240), the 10 GiB input is generated
 * once and kept under /tmp/backdrill-bench-data like the others. `BENCH_CRYPTO_SIZES_MIB=1024`
 * skips the scale rows.
 */
import { chmod, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { generateIdentity } from "../../src/crypto/keys.js";
import { type BenchContext, type BenchRow, MiB, measure } from "../lib.js";

/** A tiny run of the other Node, only to learn its version. */
const CHUNK_PROBE_BYTES = 64 * 1024;
const IMPLEMENTATIONS = ["native", "node:crypto"] as const;
const SCALE_FACTOR = 10;

/** The sizes to run, from BENCH_CRYPTO_SIZES_MIB (see above). */
function sizes(ctx: BenchContext): number[] {
  const raw = process.env.BENCH_CRYPTO_SIZES_MIB;
  if (raw === undefined || raw.trim() === "") return [ctx.sizeMiB, ctx.sizeMiB * SCALE_FACTOR];
  const parsed = raw.split(",").map((part) => Number(part.trim()));
  if (parsed.some((size) => !Number.isInteger(size) || size <= 0))
    throw new Error(`BENCH_CRYPTO_SIZES_MIB must list positive integers (MiB), got "${raw}"`);
  return parsed;
}

interface Inputs {
  mib: number;
  bytes: number;
  plain: string;
  encrypted: string;
}

interface Keys {
  recipient: string;
  identityFile: string;
}

/** The plaintext (cached) and its encryption by the reference implementation. */
async function inputs(ctx: BenchContext, keys: Keys, mib: number): Promise<Inputs> {
  const bytes = mib * MiB;
  const plain = await ctx.randomDataFile(bytes);
  const encrypted = join(ctx.tmpDir, `data-${mib}.age`);
  // The decryption input comes from the reference implementation (also warms the page cache).
  await ctx.timeCommand("age", ["-r", keys.recipient, "-o", encrypted, plain]);
  return { mib, bytes, plain, encrypted };
}

/** Encrypt and decrypt rows for one API and implementation. */
async function directions(
  ctx: BenchContext,
  keys: Keys,
  data: Inputs,
  api: "file" | "streams",
  impl: (typeof IMPLEMENTATIONS)[number],
  label: string,
): Promise<BenchRow[]> {
  const suffix = api === "file" ? "-file" : "";
  return [
    await measure(ctx, `encrypt ${data.mib} MiB file → /dev/null${label}`, data.bytes, "age -r (Go CLI)", {
      ours: () =>
        ctx.runWorker("crypto", [`encrypt${suffix}`, keys.recipient, data.plain, "/dev/null", impl]),
      baseline: () => ctx.timeCommand("age", ["-r", keys.recipient, "-o", "/dev/null", data.plain]),
    }),
    await measure(ctx, `decrypt ${data.mib} MiB file → /dev/null${label}`, data.bytes, "age -d (Go CLI)", {
      ours: () =>
        ctx.runWorker("crypto", [`decrypt${suffix}`, keys.identityFile, data.encrypted, "/dev/null", impl]),
      baseline: () =>
        ctx.timeCommand("age", ["-d", "-i", keys.identityFile, "-o", "/dev/null", data.encrypted]),
    }),
  ];
}

export async function run(ctx: BenchContext): Promise<BenchRow[]> {
  const [baseMiB, ...scaleMiB] = sizes(ctx);
  const bytes = (baseMiB as number) * MiB;
  const { identity, recipient } = await generateIdentity();
  const identityFile = join(ctx.tmpDir, "identity.txt");
  await writeFile(identityFile, `${identity}\n`, { mode: 0o600 });
  await chmod(identityFile, 0o600);
  const keys = { recipient, identityFile };
  const base = await inputs(ctx, keys, baseMiB as number);
  const { plain, encrypted } = base;

  const rows: BenchRow[] = [];
  // The worker refuses to run if the requested implementation is not the one it got (e.g. the
  // addon is not built: `npm run build:native`), so no row silently measures the other one.
  rows.push(...(await directions(ctx, keys, base, "file", "native", " (file API)")));
  rows.push(...(await directions(ctx, keys, base, "streams", "native", " (streams)")));
  rows.push(
    ...(await directions(ctx, keys, base, "streams", "node:crypto", " (streams, node:crypto fallback)")),
  );
  for (const impl of IMPLEMENTATIONS) {
    const ceiling = await measure(
      ctx,
      `ceiling: ${impl} AEAD only, ${base.mib} MiB, no I/O`,
      bytes,
      "age -r (Go CLI)",
      {
        ours: () => ctx.runWorker("crypto", ["aead-only", String(bytes), impl]),
        baseline: () => ctx.timeCommand("age", ["-r", recipient, "-o", "/dev/null", plain]),
      },
    );
    ceiling.note =
      impl === "native"
        ? "what the addon alone does on this machine (1 MiB batches of 64 KiB chunks, one reused output buffer)"
        : "what node:crypto alone allows on this machine (64 KiB ChaCha20-Poly1305 calls)";
    rows.push(ceiling);
  }
  // The streams rows cannot beat the streams themselves: the same pipeline, a PassThrough where
  // the cipher is. Each read is a fresh 1 MiB Buffer (fs.ReadStream allocates one per read).
  const plumbing = await measure(
    ctx,
    `ceiling: Node streams alone, ${base.mib} MiB file → PassThrough → /dev/null, no crypto`,
    bytes,
    "age -r (Go CLI)",
    {
      ours: () => ctx.runWorker("crypto", ["passthrough", plain, "/dev/null"]),
      baseline: () => ctx.timeCommand("age", ["-r", recipient, "-o", "/dev/null", plain]),
    },
  );
  plumbing.note =
    "createReadStream (1 MiB reads) → PassThrough → createWriteStream, as the streams rows minus the cipher";
  rows.push(plumbing);

  for (const mib of scaleMiB) {
    const scaled = await inputs(ctx, keys, mib);
    const note = (row: BenchRow, baseRow: BenchRow | undefined): BenchRow => {
      if (baseRow === undefined) return row;
      const time = row.ours.seconds / baseRow.ours.seconds;
      const growth = `scale row: ${(mib / (baseMiB as number)).toFixed(0)}x the data took ${time.toFixed(1)}x the time, peak RSS ${row.ours.peakRssMiB.toFixed(0)} vs ${baseRow.ours.peakRssMiB.toFixed(0)} MiB`;
      return {
        ...row,
        note: [row.note, growth].filter((part) => part !== undefined && part !== "").join("; "),
      };
    };
    const file = await directions(ctx, keys, scaled, "file", "native", " (file API)");
    const streams = await directions(ctx, keys, scaled, "streams", "native", " (streams)");
    rows.push(
      ...file.map((row, i) => note(row, rows[i])),
      ...streams.map((row, i) => note(row, rows[2 + i])),
    );
    // 2 x the size on disk; only the plaintext is worth keeping (it is cached across runs).
    await rm(scaled.encrypted, { force: true });
  }

  // Same code on another Node (e.g. 24, OpenSSL 3.5), to see whether its OpenSSL is faster.
  const alt = process.env.BENCH_ALT_NODE;
  if (alt !== undefined && alt !== "") {
    const probe = await ctx.runWorker("crypto", ["aead-only", String(CHUNK_PROBE_BYTES)], alt);
    const label = `node ${String(probe.node)} (OpenSSL ${String(probe.openssl)}, ${String(probe.implementation)} STREAM)`;
    rows.push(
      await measure(ctx, `encrypt ${base.mib} MiB file → /dev/null on ${label}`, bytes, "age -r (Go CLI)", {
        ours: () => ctx.runWorker("crypto", ["encrypt", recipient, plain, "/dev/null"], alt),
        baseline: () => ctx.timeCommand("age", ["-r", recipient, "-o", "/dev/null", plain]),
      }),
      await measure(ctx, `decrypt ${base.mib} MiB file → /dev/null on ${label}`, bytes, "age -d (Go CLI)", {
        ours: () => ctx.runWorker("crypto", ["decrypt", identityFile, encrypted, "/dev/null"], alt),
        baseline: () => ctx.timeCommand("age", ["-d", "-i", identityFile, "-o", "/dev/null", encrypted]),
      }),
    );
    const altCeiling = await measure(
      ctx,
      `ceiling: ${String(probe.implementation)} AEAD only, ${base.mib} MiB, no I/O, on ${label}`,
      bytes,
      "age -r (Go CLI)",
      {
        ours: () => ctx.runWorker("crypto", ["aead-only", String(bytes)], alt),
        baseline: () => ctx.timeCommand("age", ["-r", recipient, "-o", "/dev/null", plain]),
      },
    );
    altCeiling.note = "the same ceiling on the other Node";
    rows.push(altCeiling);
  }
  return rows;
}
