import { mkdtemp, rm, stat, writeFile, chmod } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run } from "../exec/process.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { canonicalJson } from "./canonical-json.js";
import {
  generateSigningKey,
  parseSigningKey,
  parseSigningPublicKey,
  readSigningKeyFile,
  SIGNING_PUBLIC_KEY,
  signValue,
  verifyValue,
} from "./signing.js";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "backdrill-signing-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("canonical JSON", () => {
  it("sorts keys at every depth, drops undefined like JSON.stringify, keeps array order", () => {
    expect(canonicalJson({ b: 1, a: [{ d: null, c: "x" }, 2], e: undefined })).toBe(
      '{"a":[{"c":"x","d":null},2],"b":1}',
    );
    expect(canonicalJson({ b: 1, a: 2 })).toBe(canonicalJson({ a: 2, b: 1 }));
  });

  it("refuses what JSON cannot say and hostile nesting", () => {
    expect(() => canonicalJson({ n: Number.NaN })).toThrow(/finite/);
    let deep: unknown = 1;
    for (let i = 0; i < 100; i++) deep = [deep];
    expect(() => canonicalJson(deep)).toThrow(/deeper/);
  });
});

describe("Ed25519 signing keys", () => {
  it("signs and verifies a value; any change, another key or another context fails", () => {
    const { privateKeyPem, publicKey } = generateSigningKey();
    expect(publicKey).toMatch(SIGNING_PUBLIC_KEY);
    const key = parseSigningKey(privateKeyPem, "test");
    expect(key.publicKey).toBe(publicKey);
    const value = { job: "db", id: "x", artifacts: [{ size: 1 }] };
    const signature = signValue("ctx-v1", value, key);
    const trusted = new Set([publicKey]);
    expect(verifyValue("ctx-v1", { ...value }, signature, trusted)).toEqual({ ok: true, publicKey });
    expect(verifyValue("ctx-v1", { ...value, artifacts: [{ size: 2 }] }, signature, trusted)).toMatchObject({
      ok: false,
      problem: expect.stringMatching(/does not match its content/),
    });
    expect(verifyValue("other-v1", value, signature, trusted)).toMatchObject({ ok: false });
    const other = generateSigningKey();
    expect(verifyValue("ctx-v1", value, signature, new Set([other.publicKey]))).toMatchObject({
      ok: false,
      problem: expect.stringMatching(/not a trusted signing key/),
    });
    expect(verifyValue("ctx-v1", value, { ...signature, value: "AAAA" }, trusted)).toMatchObject({
      ok: false,
      problem: "its signature is malformed",
    });
    expect(verifyValue("ctx-v1", value, "nonsense", trusted)).toMatchObject({ ok: false });
  });

  it("refuses a signature text that decodes to the same bytes but is not canonical base64", () => {
    const { privateKeyPem, publicKey } = generateSigningKey();
    const key = parseSigningKey(privateKeyPem, "test");
    const signature = signValue("ctx-v1", { a: 1 }, key);
    // 64 bytes: the last character before "==" carries 4 unused bits.
    const text = signature.value;
    const last = text.at(-3) ?? "A";
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const sibling = alphabet[alphabet.indexOf(last) ^ 0x01] ?? "A";
    const variant = `${text.slice(0, -3)}${sibling}==`;
    expect(Buffer.from(variant, "base64").equals(Buffer.from(text, "base64"))).toBe(true);
    expect(
      verifyValue("ctx-v1", { a: 1 }, { ...signature, value: variant }, new Set([publicKey])),
    ).toMatchObject({ ok: false });
  });

  it("reads a 0600 key file, refuses one others can read, and interoperates with openssl", async () => {
    const { privateKeyPem, publicKey } = generateSigningKey();
    const file = join(dir, "signing.pem");
    await writeFile(file, privateKeyPem, { mode: 0o600 });
    expect((await readSigningKeyFile(file)).publicKey).toBe(publicKey);
    await chmod(file, 0o640);
    await expect(readSigningKeyFile(file)).rejects.toThrow(
      /signing.keyFile .* is accessible by group or others .*chmod 600/,
    );
    await chmod(file, 0o600);
    await expect(readSigningKeyFile(join(dir, "missing.pem"))).rejects.toThrow(/no such file/);
    // openssl reads the same file and derives the same public key (SPKI DER ends with the raw key).
    const openssl = await run("openssl", ["pkey", "-in", file, "-pubout"]);
    const der = Buffer.from(openssl.stdout.replace(/-----[^-]+-----/g, "").replace(/\s/g, ""), "base64");
    expect(publicKey).toBe(`ed25519:${der.subarray(-32).toString("base64")}`);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
  });

  it("refuses other key types and malformed public keys with a clear message", async () => {
    const rsa = await run("openssl", ["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024"]);
    expect(() => parseSigningKey(rsa.stdout, "rsa.pem")).toThrow(/holds a rsa key, not an Ed25519 key/);
    expect(() => parseSigningKey("hello", "x.pem")).toThrow(/does not hold a PEM private key/);
    expect(() => parseSigningPublicKey("ssh-ed25519 AAAAC3Nza")).toThrow(/SSH public key/);
    expect(() => parseSigningPublicKey("ed25519:short")).toThrow(/not a signing public key/);
  });
});
