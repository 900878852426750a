import { describe, expect, it } from "vitest";
import { closest, didYouMean, editDistance } from "./suggest.js";

describe("editDistance", () => {
  it("counts insertions, deletions, substitutions and adjacent swaps as one edit", () => {
    expect(editDistance("port", "port")).toBe(0);
    expect(editDistance("prot", "port")).toBe(1);
    expect(editDistance("hots", "host")).toBe(1);
    expect(editDistance("recipient", "recipients")).toBe(1);
    expect(editDistance("", "abc")).toBe(3);
    expect(editDistance("kitten", "sitting")).toBe(3);
  });
});

describe("closest", () => {
  const keys = ["host", "port", "user", "passwordEnv", "passwordFile", "sslmode"];

  it("finds typos, ignoring case", () => {
    expect(closest("prot", keys)).toBe("port");
    expect(closest("sslMode", keys)).toBe("sslmode");
    expect(closest("passwordenv", keys)).toBe("passwordEnv");
  });

  it("suggests nothing for words that are far from every candidate", () => {
    expect(closest("database", keys)).toBeUndefined();
    expect(closest("x", keys)).toBeUndefined();
  });

  it("never suggests the word itself", () => {
    expect(closest("port", ["port"])).toBeUndefined();
  });

  it("formats a suffix for messages", () => {
    expect(didYouMean("nightlly", ["nightly", "weekly"])).toBe('; did you mean "nightly"?');
    expect(didYouMean("zzz", ["nightly"])).toBe("");
  });
});
