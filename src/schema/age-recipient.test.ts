import { generateIdentity, identityToRecipient } from "age-encryption";
import { describe, expect, it } from "vitest";
import { isAgeRecipient, recipientProblem } from "./age-recipient.js";

describe("age recipients", () => {
  it("accepts recipients made by age-encryption", async () => {
    for (let i = 0; i < 5; i++) {
      const recipient = await identityToRecipient(await generateIdentity());
      expect(isAgeRecipient(recipient)).toBe(true);
      expect(recipientProblem(recipient)).toBeUndefined();
    }
  });

  it("accepts post-quantum recipients, as encryption does", async () => {
    const { generateHybridIdentity } = await import("age-encryption");
    const recipient = await identityToRecipient(await generateHybridIdentity());
    expect(recipient.startsWith("age1pq1")).toBe(true);
    expect(isAgeRecipient(recipient)).toBe(true);
  });

  it("rejects a recipient with one character changed (checksum)", async () => {
    const recipient = await identityToRecipient(await generateIdentity());
    const last = recipient.at(-1) === "q" ? "p" : "q";
    expect(isAgeRecipient(`${recipient.slice(0, -1)}${last}`)).toBe(false);
  });

  it("rejects truncated, mixed-case and non-age strings", async () => {
    const recipient = await identityToRecipient(await generateIdentity());
    expect(isAgeRecipient(recipient.slice(0, -1))).toBe(false);
    expect(isAgeRecipient(`A${recipient.slice(1)}`)).toBe(false);
    expect(isAgeRecipient("age1")).toBe(false);
    expect(isAgeRecipient("")).toBe(false);
    expect(isAgeRecipient("ssh-ed25519 AAAA")).toBe(false);
  });

  it("explains the common mistakes without echoing private keys", async () => {
    const identity = await generateIdentity();
    const problem = recipientProblem(identity);
    expect(problem).toMatch(/PRIVATE key/);
    expect(problem).not.toContain(identity.slice(20));
    expect(recipientProblem("ssh-ed25519 AAAAC3Nza")).toMatch(/SSH keys are not supported/);
    expect(recipientProblem("age1abc")).toMatch(/not a valid age recipient/);
    expect(recipientProblem("bob@example.org")).toMatch(/starting with age1/);
  });
});
