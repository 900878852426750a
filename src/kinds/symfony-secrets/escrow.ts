/** Opening a snapshot's escrow: outer layer by the runner's reader, inner layer with an escrow identity. */
import { decryptBuffer } from "../../crypto/buffer.js";
import { readIdentityFile } from "../../crypto/keys.js";
import { DecryptionError } from "../../errors.js";
import { readArtifactBuffer } from "../artifact-read.js";
import type { ArtifactReader } from "../contract.js";
import { decodeBundle, type EscrowBundle } from "./bundle.js";

const MAX_BYTES = 64 * 1024 * 1024;

export async function readArtifact(
  artifacts: ArtifactReader,
  name: string,
  signal: AbortSignal,
): Promise<Buffer> {
  return readArtifactBuffer(artifacts, name, signal, MAX_BYTES);
}

/**
 * Decrypts the inner (escrow) layer in memory. A wrong identity is a DecryptionError naming the
 * identity file and the recipients the escrow was made for.
 */
export async function openEscrow(
  ciphertext: Buffer,
  identityFile: string,
  recipients: readonly string[],
): Promise<EscrowBundle> {
  const identities = await readIdentityFile(identityFile);
  let plaintext: Buffer;
  try {
    plaintext = await decryptBuffer(ciphertext, identities);
  } catch (error) {
    throw new DecryptionError(
      `the escrow identity in ${identityFile} does not open the escrow (made for ${recipients.length > 0 ? recipients.join(", ") : "its escrow recipients"}): ${(error as Error).message}`,
      { cause: error },
    );
  }
  try {
    return decodeBundle(plaintext);
  } finally {
    plaintext.fill(0);
  }
}
