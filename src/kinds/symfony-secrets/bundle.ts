/**
 * The escrow bundle: the vault's files plus the decryption key, as one JSON document (file
 * contents base64), age-encrypted to the job's escrow recipients.
 *
 * The bundle is encrypted twice. Inner: to the escrow recipients (here), so that only an escrow
 * holder can ever read the key, whoever else can read the repository. Outer: the runner's
 * ArtifactWriter encrypts every artifact to the policy's recipients, like any other backup, so
 * repository integrity checks and `verify --read-data` treat it like the rest.
 */
import { Readable, type Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createEncryptStream } from "../../crypto/encrypt.js";
import { IntegrityError, OperationError } from "../../errors.js";
import { SYMFONY_ENVIRONMENT, VAULT_FILE_NAME } from "./names.js";
import { KEYPAIR_BYTES, type Keypair, type VaultFile } from "./vault.js";

export const ESCROW_ARTIFACT = "vault.escrow";
export const BUNDLE_FORMAT = "backdrill-symfony-vault";
export const BUNDLE_VERSION = 1;

export interface EscrowBundle {
  environment: string;
  /** Where the key came from at backup time: the env var, or a file (whose name is given). */
  keySource: "env" | "file";
  files: VaultFile[];
  key: Keypair;
}

interface BundleJson {
  format: string;
  version: number;
  environment: string;
  keySource: "env" | "file";
  files: Array<{ name: string; mode: number; data: string }>;
  key: string;
}

/** The bundle as JSON bytes (holds the key: the caller wipes it once encrypted). */
export function encodeBundle(bundle: EscrowBundle): Buffer {
  const json: BundleJson = {
    format: BUNDLE_FORMAT,
    version: BUNDLE_VERSION,
    environment: bundle.environment,
    keySource: bundle.keySource,
    files: bundle.files.map((file) => ({
      name: file.name,
      mode: file.mode,
      data: file.data.toString("base64"),
    })),
    key: Buffer.from(bundle.key.bytes).toString("base64"),
  };
  return Buffer.from(JSON.stringify(json), "utf8");
}

export function decodeBundle(bytes: Buffer): EscrowBundle {
  let json: BundleJson;
  try {
    json = JSON.parse(bytes.toString("utf8")) as BundleJson;
  } catch (error) {
    throw new OperationError(`the escrow bundle is not valid JSON: ${(error as Error).message}`);
  }
  if (json.format !== BUNDLE_FORMAT || json.version !== BUNDLE_VERSION || !Array.isArray(json.files)) {
    throw new OperationError(`the escrow bundle is not a ${BUNDLE_FORMAT} v${BUNDLE_VERSION} document`);
  }
  const key = new Uint8Array(Buffer.from(String(json.key), "base64"));
  if (key.length !== KEYPAIR_BYTES)
    throw new OperationError("the escrow bundle's key is not a 64-byte keypair");
  // The restore writes files under these names and renders PHP with the environment in it: both
  // are held to Symfony's own names (names.ts) whoever encrypted the bundle (escrow recipients
  // are public, so anyone can).
  if (typeof json.environment !== "string" || !SYMFONY_ENVIRONMENT.test(json.environment)) {
    throw new IntegrityError(
      `the escrow bundle's environment ${JSON.stringify(json.environment)} is not a Symfony environment name; refusing it`,
    );
  }
  const seen = new Set<string>();
  const files = json.files.map((file) => {
    if (typeof file.name !== "string" || !VAULT_FILE_NAME.test(file.name) || file.name.startsWith(".")) {
      throw new IntegrityError(
        `the escrow bundle names an unsafe file: ${JSON.stringify(file.name)}; refusing it`,
      );
    }
    if (seen.has(file.name))
      throw new IntegrityError(`the escrow bundle holds ${file.name} twice; refusing it`);
    seen.add(file.name);
    return {
      name: file.name,
      mode: Number(file.mode) & 0o777,
      data: Buffer.from(String(file.data), "base64"),
    };
  });
  return {
    environment: json.environment,
    keySource: json.keySource === "env" ? "env" : "file",
    files,
    key: { bytes: key },
  };
}

/** Encrypts to the escrow recipients; returns the age ciphertext as a stream for addArtifact. */
export function encryptBundle(plaintext: Buffer, escrowRecipients: readonly string[]): Transform {
  const encrypt = createEncryptStream(escrowRecipients);
  pipeline(Readable.from([plaintext]), encrypt).catch((error: unknown) => encrypt.destroy(error as Error));
  return encrypt;
}
