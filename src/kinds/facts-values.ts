/**
 * Building blocks for the kinds' facts schemas, and the checks every kind runs between its facts
 * and the snapshot's manifest before it acts on them.
 *
 * Facts come from the repository. A signature (where a policy has one) proves who wrote them, not
 * that they are harmless: a stolen backup host can sign, and policies without signing trust
 * anyone with write access. So every value a kind later puts into argv, SQL, a connection, a shell
 * or a path is constrained here to what the kind itself writes, and a value that does not fit is
 * refused with the path of the offending field (runner/facts.ts names it). docs/security.md,
 * "Hostile snapshots", lists what each kind checks.
 */
import * as z from "zod";
import { IntegrityError } from "../errors.js";
import type { ArtifactReader } from "./contract.js";

/** The repository's own artifact-name rule (repository.ts): one safe path component. */
export const ARTIFACT_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/;

export const artifactNameSchema = z
  .string()
  .regex(ARTIFACT_NAME_PATTERN, { error: "not an artifact name (letters, digits, '.', '_', '-')" });

/** C0 controls, DEL and C1 controls: never in a name we put into a command, SQL or a report line. */
// eslint-disable-next-line no-control-regex
export const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f]/;

/** Text without control characters (no newline that could start a new line of a file or log). */
export function plainText(max: number): z.ZodString {
  return z
    .string()
    .max(max)
    .refine((value) => !CONTROL_CHARACTERS.test(value), { error: "contains control characters" });
}

export { printable } from "../util/printable.js";

/** A lowercase hex sha256. */
export const sha256HexSchema = z.string().regex(/^[0-9a-f]{64}$/, { error: "not a sha256 (64 hex digits)" });

/**
 * A relative path inside a tree, as a snapshot manifest records it: `/`-separated, no leading
 * `/`, no `.` or `..` segment, no empty segment, no NUL. Joining it to a root never leaves the root.
 */
export function isContainedPath(value: string): boolean {
  if (value === "" || value.startsWith("/") || value.includes("\0")) return false;
  return value.split("/").every((segment) => segment !== "" && segment !== "." && segment !== "..");
}

export const containedPathSchema = z.string().max(4096).refine(isContainedPath, {
  error: "not a relative path inside the tree (absolute, '..', or empty segment)",
});

/**
 * Every artifact the facts name is in the snapshot's manifest. A name that is not is a forged or
 * swapped snapshot: refused before anything is started, naming the field.
 */
export function requireArtifacts(
  artifacts: ArtifactReader,
  wanted: ReadonlyArray<{ name: string; field: string }>,
): void {
  const present = new Set(artifacts.snapshot.artifacts.map((artifact) => artifact.name));
  for (const { name, field } of wanted) {
    if (!present.has(name)) {
      throw hostileSnapshot(
        artifacts,
        `its facts name artifact ${JSON.stringify(name)} (${field}), which the manifest does not list`,
      );
    }
  }
}

/**
 * The error for a snapshot whose facts (or artifacts) contradict the snapshot itself: exit 1,
 * naming the snapshot, never acting on it.
 */
export function hostileSnapshot(
  artifacts: Pick<ArtifactReader, "snapshot">,
  problem: string,
): IntegrityError {
  const { job, id } = artifacts.snapshot;
  return new IntegrityError(`snapshot ${job}/${id}: ${problem}; refusing to use it`, {
    hint: "the snapshot was altered in the repository or written by another tool: drill or restore another snapshot, and check who can write to the repository",
  });
}
