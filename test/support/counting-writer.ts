import type { ArtifactWriter } from "../../src/kinds/contract.js";

/**
 * An ArtifactWriter that reads each artifact to the end and records its name, for tests that
 * only care whether a backup stored something (e.g. that a failed response stores nothing).
 */
export function countingWriter(): { writer: ArtifactWriter; stored: string[] } {
  const stored: string[] = [];
  const writer: ArtifactWriter = {
    id: "20261128T021500Z-000000",
    addArtifact: async (name, plaintext) => {
      for await (const _ of plaintext) void _;
      stored.push(name);
      return { name, path: name, size: 0, sha256: "0".repeat(64) };
    },
  };
  return { writer, stored };
}
