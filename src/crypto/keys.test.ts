import { mkdtemp, mkdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  generateHybridIdentity,
  generateX25519Identity,
  identityToRecipient as ageIdentityToRecipient,
} from "age-encryption";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { UsageError } from "../errors.js";
import { run } from "../exec/process.js";
import { clearRegisteredSecrets, redact } from "../log/redact.js";
import { bech32Decode, bech32Encode } from "./bech32.js";
import {
  generateIdentity,
  identityToRecipient,
  isValidRecipient,
  parseIdentityFile,
  parseRecipient,
  parseRecipientsFile,
  readIdentityFile,
} from "./keys.js";

// Test vector from the C2SP age spec, "The X25519 recipient type".
const SPEC_IDENTITY = "AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX";
const SPEC_RECIPIENT = "age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj";

function errorOf(fn: () => unknown): Error {
  try {
    fn();
  } catch (error) {
    return error as Error;
  }
  throw new Error("expected an error");
}

describe("bech32", () => {
  it("round-trips and preserves the HRP case", () => {
    const data = Buffer.from("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff", "hex");
    const lower = bech32Encode("age", data);
    expect(bech32Decode(lower)).toEqual({ hrp: "age", data });
    const upper = bech32Encode("AGE-SECRET-KEY-", data, true);
    expect(upper).toBe(upper.toUpperCase());
    expect(bech32Decode(upper)).toEqual({ hrp: "AGE-SECRET-KEY-", data });
  });

  it("rejects mixed case, bad checksums and bad characters", () => {
    expect(() => bech32Decode("age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwJ")).toThrow(
      /mixed/,
    );
    expect(() => bech32Decode(SPEC_RECIPIENT.slice(0, -1) + "q")).toThrow(/checksum/);
    expect(() => bech32Decode("age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwb")).toThrow(
      /character/,
    );
    expect(() => bech32Decode("agezvkyg")).toThrow(/separator/);
  });

  it("handles the long post-quantum recipients (no 90-character limit)", async () => {
    const recipient = await ageIdentityToRecipient(await generateHybridIdentity());
    expect(recipient.length).toBeGreaterThan(1900);
    expect(bech32Decode(recipient).data.length).toBe(1216);
  });
});

describe("recipients", () => {
  it("derives the spec test vector", async () => {
    expect(await identityToRecipient(SPEC_IDENTITY)).toBe(SPEC_RECIPIENT);
    expect(parseRecipient(SPEC_RECIPIENT)).toMatchObject({ kind: "x25519", text: SPEC_RECIPIENT });
  });

  it("agrees with age-encryption on 20 random identities", async () => {
    for (let i = 0; i < 20; i++) {
      const identity = await generateX25519Identity();
      expect(await identityToRecipient(identity)).toBe(await ageIdentityToRecipient(identity));
    }
  });

  it("generates identities whose recipient matches age-keygen -y", async () => {
    const { identity, recipient } = await generateIdentity();
    expect(identity).toMatch(/^AGE-SECRET-KEY-1[0-9A-Z]{58}$/);
    expect(recipient).toMatch(/^age1[0-9a-z]{58}$/);
    const { stdout } = await run("age-keygen", ["-y"], { input: `${identity}\n` });
    expect(stdout.trim()).toBe(recipient);
  });

  it("isValidRecipient accepts X25519 and post-quantum recipients", async () => {
    expect(isValidRecipient(SPEC_RECIPIENT)).toBe(true);
    expect(isValidRecipient((await generateIdentity()).recipient)).toBe(true);
    expect(isValidRecipient(await ageIdentityToRecipient(await generateHybridIdentity()))).toBe(true);
  });

  it.each([
    ["empty", ""],
    ["whitespace around", ` ${SPEC_RECIPIENT}`],
    ["upper-case", SPEC_RECIPIENT.toUpperCase()],
    ["bad checksum", `${SPEC_RECIPIENT.slice(0, -1)}q`],
    ["truncated", SPEC_RECIPIENT.slice(0, -5)],
    ["wrong length", bech32Encode("age", Buffer.alloc(31))],
    ["identity", SPEC_IDENTITY],
    ["ssh key", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHsKLqeplhpW+uObz5dvMgjz1OxfM/XXUB+VHtZ6isGN"],
    ["plugin", bech32Encode("age1yubikey", Buffer.alloc(33, 2))],
    ["garbage", "hello"],
  ])("isValidRecipient rejects %s", (_name, text) => {
    expect(isValidRecipient(text)).toBe(false);
  });

  it("explains why a recipient is refused, without echoing secrets", () => {
    const secret = errorOf(() => parseRecipient(SPEC_IDENTITY));
    expect(secret).toBeInstanceOf(UsageError);
    expect(secret.message).toMatch(/secret age identity/);
    expect(secret.message).not.toContain(SPEC_IDENTITY.slice(16));
    expect(errorOf(() => parseRecipient("ssh-rsa AAAAB3 me@host")).message).toMatch(
      /SSH public keys are not supported/,
    );
    expect(errorOf(() => parseRecipient(bech32Encode("age1yubikey", Buffer.alloc(33, 2)))).message).toMatch(
      /plugin recipients are not supported \(age-plugin-yubikey\)/,
    );
    expect(errorOf(() => parseRecipient(`${SPEC_RECIPIENT.slice(0, -1)}q`)).message).toMatch(
      /invalid checksum/,
    );
  });

  it("parses recipients files", () => {
    const text = `# ops team\n${SPEC_RECIPIENT}\n\n  # escrow\nage1qv2ak5k5er7njdty4y4xxsctgv4280xw8cll69846cxsvfhneyxq4q0m4p\n`;
    expect(parseRecipientsFile(text, "r.txt")).toHaveLength(2);
    expect(() => parseRecipientsFile("# nothing\n", "r.txt")).toThrow(/r.txt contains no recipients/);
    expect(() => parseRecipientsFile(`${SPEC_RECIPIENT}\nnope\n`, "r.txt")).toThrow(
      /r.txt, line 2: not an age recipient/,
    );
  });
});

describe("identity files", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "backdrill-keys-"));
  });
  afterAll(async () => {
    clearRegisteredSecrets();
    await rm(dir, { recursive: true, force: true });
  });

  it("reads what age-keygen writes", async () => {
    const path = join(dir, "keygen.txt");
    await run("age-keygen", ["-o", path]);
    const identities = await readIdentityFile(path);
    expect(identities).toHaveLength(1);
    const { stdout } = await run("age-keygen", ["-y", path]);
    expect(await identityToRecipient(identities[0] as string)).toBe(stdout.trim());
  });

  it("skips comments and blank lines, tolerates CRLF, BOM and indentation", () => {
    const text = `\uFEFF# created: now\r\n# public key: ${SPEC_RECIPIENT}\r\n\r\n   ${SPEC_IDENTITY}  \r\n\t# second\n${SPEC_IDENTITY}\n`;
    expect(parseIdentityFile(text, "id.txt")).toEqual([SPEC_IDENTITY, SPEC_IDENTITY]);
  });

  it("accepts post-quantum identities", async () => {
    const pq = await generateHybridIdentity();
    expect(parseIdentityFile(`${pq}\n`, "pq.txt")).toEqual([pq]);
    expect(await identityToRecipient(pq)).toBe(await ageIdentityToRecipient(pq));
  });

  it.each([
    ["an empty file", "", /id.txt contains no identities/],
    ["only comments", "# nothing here\n\n", /id.txt contains no identities/],
    ["a recipient", `${SPEC_RECIPIENT}\n`, /id.txt, line 1: this is a public recipient/],
    [
      "a bad checksum on line 3",
      `# a\n\n${SPEC_IDENTITY.slice(0, -1)}Q\n`,
      /id.txt, line 3: malformed age identity: invalid checksum/,
    ],
    [
      "a lower-case identity",
      `${SPEC_IDENTITY.toLowerCase()}\n`,
      /line 1: malformed age identity: must be upper-case/,
    ],
    ["a truncated identity", `${SPEC_IDENTITY.slice(0, 30)}\n`, /line 1: malformed age identity/],
    ["garbage", "password123\n", /line 1: not an age identity/],
    ["an encrypted identity file", "age-encryption.org/v1\n-> scrypt abc 18\n", /is itself age-encrypted/],
    ["an SSH key", "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n", /SSH\/PEM private key/],
  ])("rejects %s with the file and line, never the secret", (_name, text, message) => {
    const error = errorOf(() => parseIdentityFile(text, "id.txt"));
    expect(error).toBeInstanceOf(UsageError);
    expect(error.message).toMatch(message);
    expect(error.message).not.toContain("GFPYYSJZ");
  });

  it("registers identities for redaction", async () => {
    const { identity } = await generateIdentity();
    const path = join(dir, "registered.txt");
    await writeFile(path, `${identity}\n`, { mode: 0o600 });
    await readIdentityFile(path);
    // The pattern alone would leave "AGE-SECRET-KEY-1***"; the full mask proves the exact value was registered.
    expect(redact(`x ${identity} y`)).toBe("x *** y");
  });

  it("names the path when the file cannot be read", async () => {
    await expect(readIdentityFile(join(dir, "missing.txt"))).rejects.toThrow(
      new UsageError(`cannot read identity file ${join(dir, "missing.txt")}: no such file`),
    );
    const sub = join(dir, "a-directory");
    await mkdir(sub);
    await expect(readIdentityFile(sub)).rejects.toThrow(
      /cannot read identity file .*a-directory: is a directory/,
    );
  });
});
