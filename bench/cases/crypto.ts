/**
 * Encryption throughput and memory: backdrill's age (STREAM on the native addon, and on the
 * node:crypto fallback used when the addon is not built or BACKDRILL_NATIVE_CRYPTO=0) against
 * the Go `age` CLI, file → /dev/null, both directions, on BENCH_SIZE_MIB of random data.
 */
import { chmod, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { generateIdentity } from "../../src/crypto/keys.js";
import { type BenchContext, type BenchRow, MiB, measure } from "../lib.js";

/** A tiny run of the other Node, only to learn its version. */
const CHUNK_PROBE_BYTES = 64 * 1024;
const IMPLEMENTATIONS = ["native", "node:crypto"] as const;

export async function run(ctx: BenchContext): Promise<BenchRow[]> {
  const bytes = ctx.sizeMiB * MiB;
  const plain = await ctx.randomDataFile(bytes);
  const { identity, recipient } = await generateIdentity();
  const identityFile = join(ctx.tmpDir, "identity.txt");
  await writeFile(identityFile, `${identity}\n`, { mode: 0o600 });
  await chmod(identityFile, 0o600);
  const encrypted = join(ctx.tmpDir, "data.age");
  // The decryption input comes from the reference implementation (also warms the page cache).
  await ctx.timeCommand("age", ["-r", recipient, "-o", encrypted, plain]);

  const rows: BenchRow[] = [];
  // The worker refuses to run if the requested implementation is not the one it got (e.g. the
  // addon is not built: `npm run build:native`), so no row silently measures the other one.
  for (const impl of IMPLEMENTATIONS) {
    const label = impl === "native" ? "" : " (node:crypto fallback)";
    rows.push(
      await measure(ctx, `encrypt ${ctx.sizeMiB} MiB file → /dev/null${label}`, bytes, "age -r (Go CLI)", {
        ours: () => ctx.runWorker("crypto", ["encrypt", recipient, plain, "/dev/null", impl]),
        baseline: () => ctx.timeCommand("age", ["-r", recipient, "-o", "/dev/null", plain]),
      }),
      await measure(ctx, `decrypt ${ctx.sizeMiB} MiB file → /dev/null${label}`, bytes, "age -d (Go CLI)", {
        ours: () => ctx.runWorker("crypto", ["decrypt", identityFile, encrypted, "/dev/null", impl]),
        baseline: () => ctx.timeCommand("age", ["-d", "-i", identityFile, "-o", "/dev/null", encrypted]),
      }),
    );
  }
  for (const impl of IMPLEMENTATIONS) {
    const ceiling = await measure(
      ctx,
      `ceiling: ${impl} AEAD only, ${ctx.sizeMiB} MiB, no I/O`,
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

  // Same code on another Node (e.g. 24, OpenSSL 3.5), to see whether its OpenSSL is faster.
  const alt = process.env.BENCH_ALT_NODE;
  if (alt !== undefined && alt !== "") {
    const probe = await ctx.runWorker("crypto", ["aead-only", String(CHUNK_PROBE_BYTES)], alt);
    const label = `node ${String(probe.node)} (OpenSSL ${String(probe.openssl)}, ${String(probe.implementation)} STREAM)`;
    rows.push(
      await measure(
        ctx,
        `encrypt ${ctx.sizeMiB} MiB file → /dev/null on ${label}`,
        bytes,
        "age -r (Go CLI)",
        {
          ours: () => ctx.runWorker("crypto", ["encrypt", recipient, plain, "/dev/null"], alt),
          baseline: () => ctx.timeCommand("age", ["-r", recipient, "-o", "/dev/null", plain]),
        },
      ),
      await measure(
        ctx,
        `decrypt ${ctx.sizeMiB} MiB file → /dev/null on ${label}`,
        bytes,
        "age -d (Go CLI)",
        {
          ours: () => ctx.runWorker("crypto", ["decrypt", identityFile, encrypted, "/dev/null"], alt),
          baseline: () => ctx.timeCommand("age", ["-d", "-i", identityFile, "-o", "/dev/null", encrypted]),
        },
      ),
    );
    const altCeiling = await measure(
      ctx,
      `ceiling: ${String(probe.implementation)} AEAD only, ${ctx.sizeMiB} MiB, no I/O, on ${label}`,
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
