import { open, stat } from "node:fs/promises";
import { join } from "node:path";
import { generateIdentity } from "../crypto/keys.js";
import { generateSigningKey } from "../crypto/signing.js";
import { UsageError } from "../errors.js";

export interface GeneratedKeys {
  recipient: string;
  /** Set when written to a file. */
  identityFile?: string;
  /** Set when not written to a file: the identity file text, for stdout. */
  identityText?: string;
}

/**
 * Makes a new age X25519 identity. The identity file has the same shape `age-keygen` writes,
 * so the `age` CLI can use it too.
 */
export async function generateKeys(options: { out?: string } = {}): Promise<GeneratedKeys> {
  const { identity, recipient } = await generateIdentity();
  const identityText = `# created: ${new Date().toISOString()}\n# public key: ${recipient}\n${identity}\n`;
  if (options.out === undefined) return { recipient, identityText };
  if (options.out === "") throw new UsageError("--out needs the path of the identity file to write");
  await writeNewKeyFile(options.out, identityText, {
    what: "an identity",
    example: "backdrill-identity.txt",
    why: "losing one makes every backup unreadable",
  });
  return { recipient, identityFile: options.out };
}

export interface GeneratedSigningKey {
  /** `ed25519:…`: goes into `signing.publicKeys` of the policy and of drills. */
  publicKey: string;
  keyFile: string;
}

/**
 * Makes a new Ed25519 signing key for the backup host (crypto/signing.ts): the private key as a
 * PKCS#8 PEM file, 0600, never overwriting one (a replaced key leaves every host that trusts the
 * old one refusing new snapshots); the public key for the policies and drills.
 */
export async function generateSigningKeyFile(options: { out?: string }): Promise<GeneratedSigningKey> {
  if (options.out === undefined || options.out === "") {
    throw new UsageError(
      "keys signing-keygen needs --out FILE: the private key is only ever written to a file (0600)",
      {
        hint: "e.g. backdrill keys signing-keygen --out /etc/backdrill/signing-key.pem",
      },
    );
  }
  const { privateKeyPem, publicKey } = generateSigningKey();
  await writeNewKeyFile(options.out, privateKeyPem, {
    what: "a signing key",
    example: "signing-key.pem",
    why: "hosts that trust the old key would refuse what the new one signs",
  });
  return { publicKey, keyFile: options.out };
}

/** Creates `path` 0600 with `content`; refuses an existing file, and says what to do otherwise. */
async function writeNewKeyFile(
  path: string,
  content: string,
  about: { what: string; example: string; why: string },
): Promise<void> {
  let handle;
  try {
    // "wx": never overwrite an existing key.
    handle = await open(path, "wx", 0o600);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (
      code === "EEXIST" &&
      (await stat(path).then(
        (info) => info.isDirectory(),
        () => false,
      ))
    ) {
      throw new UsageError(
        `--out ${path} is a directory; give the file's path, e.g. ${join(path, about.example)}`,
      );
    }
    if (code === "EEXIST") {
      throw new UsageError(`--out ${path}: file exists; refusing to overwrite ${about.what} (${about.why})`, {
        hint: "choose another path, or move the old key away first",
      });
    }
    const why =
      code === "ENOENT"
        ? "its directory does not exist; create it first (mode 0700) or choose another path"
        : code === "ENOTDIR"
          ? "a parent of this path is a file, not a directory; choose another path"
          : `cannot create the file (${code ?? String(error)}); choose another path`;
    throw new UsageError(`--out ${path}: ${why}`);
  }
  try {
    await handle.writeFile(content);
    await handle.chmod(0o600);
    await handle.sync();
  } finally {
    await handle.close();
  }
}
