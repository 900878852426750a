/**
 * The facts of a snapshot, checked against the kind's facts schema before any engine reads them:
 * facts come from the repository, which anyone with write access to it could have written, and a
 * kind must never act on a value it did not validate (docs/architecture.md, "The kind contract").
 */
import type * as z from "zod";
import { IntegrityError } from "../errors.js";
import { printable } from "../util/printable.js";
import type { SnapshotManifest } from "../repository/manifest.js";
import type { Repository } from "../repository/repository.js";

/** Parses facts that were read (or are about to be written) with the kind's schema. */
export function parseFacts<F>(
  schema: z.ZodType<F>,
  raw: unknown,
  manifest: Pick<SnapshotManifest, "job" | "id" | "kind">,
): F {
  const parsed = schema.safeParse(raw);
  if (parsed.success) return parsed.data;
  const first = parsed.error.issues[0];
  // Paths hold keys from the facts themselves: printed with control characters escaped.
  const where =
    first === undefined ? "" : ` (${printable(first.path.join(".")) || "(root)"}: ${first.message})`;
  throw new IntegrityError(
    `snapshot ${manifest.job}/${manifest.id}: its facts are not ${manifest.kind} facts this version understands${where}; refusing to use them`,
    {
      hint: "the snapshot was written by another tool or version, or altered in the repository: drill or restore another snapshot",
    },
  );
}

/** Reads, decrypts and validates a snapshot's facts. */
export async function readFacts<F>(
  repository: Repository,
  manifest: SnapshotManifest,
  identities: readonly string[],
  schema: z.ZodType<F>,
): Promise<F> {
  return parseFacts(schema, await repository.readFacts<unknown>(manifest, [...identities]), manifest);
}
