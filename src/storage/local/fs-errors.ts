/**
 * Turns Node file-system errors into `OperationError`s an operator can act on at 3 a.m.: the full
 * path, what we were doing, and the cause in words ("no space left on device"), not just ENOSPC.
 */
import { OperationError } from "../../errors.js";

export function errnoCode(error: unknown): string | undefined {
  if (error === null || typeof error !== "object" || !("code" in error)) return undefined;
  const { code } = error as { code: unknown };
  return typeof code === "string" ? code : undefined;
}

const EXPLANATIONS: Record<string, { text: string; hint?: string }> = {
  ENOSPC: { text: "no space left on device", hint: "free space on the backup volume or prune old snapshots" },
  EDQUOT: { text: "disk quota exceeded", hint: "raise the quota or prune old snapshots" },
  EACCES: { text: "permission denied", hint: "check the owner and mode of the repository directory" },
  EPERM: { text: "operation not permitted", hint: "check the owner and mode of the repository directory" },
  EROFS: { text: "read-only file system", hint: "is the backup volume mounted read-only?" },
  ENOTDIR: { text: "a parent of this path is a file, not a directory" },
  EISDIR: { text: "is a directory" },
  EIO: { text: "input/output error", hint: "the disk may be failing; check the kernel log" },
  EMFILE: { text: "too many open files" },
};

export function fsError(action: string, path: string, error: unknown): OperationError {
  const code = errnoCode(error);
  const explanation = code === undefined ? undefined : EXPLANATIONS[code];
  const reason =
    explanation?.text ?? (error instanceof Error ? error.message : String(error)) ?? "unknown error";
  return new OperationError(`cannot ${action} ${path}: ${reason}${code ? ` (${code})` : ""}`, {
    cause: error,
    ...(explanation?.hint === undefined ? {} : { hint: explanation.hint }),
  });
}
