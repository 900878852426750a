import { open, stat } from "node:fs/promises";
import { join } from "node:path";
import { generateIdentity } from "../crypto/keys.js";
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
  let handle;
  try {
    // "wx": never overwrite an existing identity (losing one makes every backup unreadable).
    handle = await open(options.out, "wx", 0o600);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (
      code === "EEXIST" &&
      (await stat(options.out).then(
        (info) => info.isDirectory(),
        () => false,
      ))
    ) {
      throw new UsageError(
        `--out ${options.out} is a directory; give the identity file's path, e.g. ${join(options.out, "backdrill-identity.txt")}`,
      );
    }
    if (code === "EEXIST") {
      throw new UsageError(`--out ${options.out}: file exists; refusing to overwrite an identity`, {
        hint: "choose another path, or move the old identity away first",
      });
    }
    const why =
      code === "ENOENT"
        ? "its directory does not exist; create it first (mode 0700) or choose another path"
        : code === "ENOTDIR"
          ? "a parent of this path is a file, not a directory; choose another path"
          : `cannot create the file (${code ?? String(error)}); choose another path`;
    throw new UsageError(`--out ${options.out}: ${why}`);
  }
  try {
    await handle.writeFile(identityText);
    await handle.chmod(0o600);
    await handle.sync();
  } finally {
    await handle.close();
  }
  return { recipient, identityFile: options.out };
}
