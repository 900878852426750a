/** The age identities a command that reads snapshots needs: from its flag, else $BACKDRILL_IDENTITY_FILE. */
import { readIdentityFile } from "../crypto/keys.js";
import { UsageError } from "../errors.js";

export function identityFileOf(flag: string | undefined, env: NodeJS.ProcessEnv): string | undefined {
  const file = flag ?? env.BACKDRILL_IDENTITY_FILE;
  return file === undefined || file === "" ? undefined : file;
}

/** Reads the identity file, or a usage error saying how to give one (`purpose`: "restore", "wal fetch"). */
export async function requireIdentities(
  flag: string | undefined,
  env: NodeJS.ProcessEnv,
  purpose: string,
  hint: string,
): Promise<{ file: string; identities: string[] }> {
  const file = identityFileOf(flag, env);
  if (file === undefined) {
    throw new UsageError(`${purpose} needs the age identity that opens the backups: pass --identity FILE`, {
      hint,
    });
  }
  return { file, identities: await readIdentityFile(file) };
}
