/**
 * The STREAM implementations a crypto test runs with: the native addon (when built; CI requires
 * it, see src/crypto/age/stream.test.ts) and the node:crypto fallback, selected the way users do,
 * through BACKDRILL_NATIVE_CRYPTO.
 */
import { afterAll, beforeAll, expect } from "vitest";
import { NATIVE_CRYPTO_ENV, nativeAgeStream } from "../../src/crypto/age/native.js";
import { chunkCipher } from "../../src/crypto/age/stream.js";

export const IMPLEMENTATIONS = nativeAgeStream() === null ? ["node:crypto"] : ["native", "node:crypto"];

/** Inside a `describe`: selects `implementation` for its tests and restores the setting after. */
export function useImplementation(implementation: string): void {
  let saved: string | undefined;
  beforeAll(() => {
    saved = process.env[NATIVE_CRYPTO_ENV];
    process.env[NATIVE_CRYPTO_ENV] = implementation === "native" ? "1" : "0";
    expect(chunkCipher().name).toBe(implementation);
  });
  afterAll(() => {
    if (saved === undefined) delete process.env[NATIVE_CRYPTO_ENV];
    else process.env[NATIVE_CRYPTO_ENV] = saved;
  });
}
