/** Opening a snapshot's escrow: outer layer by the runner's reader, inner layer with an escrow identity. */
import { decryptBuffer } from "../../crypto/buffer.js";
import { readIdentityFile } from "../../crypto/keys.js";
import { DecryptionError } from "../../errors.js";
import { readArtifactBuffer } from "../artifact-read.js";
import type { ArtifactReader } from "../contract.js";
import { decodeBundle, type EscrowBundle } from "./bundle.js";
import { hostileSnapshot } from "../facts-values.js";
import type { SymfonySecretsFacts } from "./facts.js";

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

/**
 * The escrow (inner layer, encrypted to public escrow recipients, so anyone can make one) and the
 * facts describe the same vault: the same environment and the same files. An escrow of another
 * environment or another snapshot swapped in is refused before a file is written.
 */
export function checkBundleAgainstFacts(
  bundle: EscrowBundle,
  facts: SymfonySecretsFacts,
  artifacts: Pick<ArtifactReader, "snapshot">,
): void {
  if (bundle.environment !== facts.environment) {
    throw hostileSnapshot(
      artifacts,
      `its escrow holds the vault of environment ${bundle.environment}, its facts say ${facts.environment}`,
    );
  }
  const inBundle = bundle.files.map((file) => file.name).sort();
  const inFacts = [...facts.files].sort();
  if (inBundle.length !== inFacts.length || inBundle.some((name, index) => name !== inFacts[index])) {
    throw hostileSnapshot(
      artifacts,
      `its escrow holds the files ${inBundle.join(", ") || "(none)"}, its facts list ${inFacts.join(", ") || "(none)"}`,
    );
  }
}
