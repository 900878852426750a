/**
 * The one restore_command line of postgres-base, for the disaster restore (`restore --to DIR`,
 * whose fallback is `backdrill wal fetch ... --prefetch N --prefetch-dir D`) and the drill
 * (whose fallback copies from the WAL staged into its container):
 *
 *   if [ -f pg_wal/.backdrill-prefetch/%f ]; then mv -f pg_wal/.backdrill-prefetch/%f %p || exit 126;
 *   else exec <fallback>; fi
 *
 * Why: PostgreSQL runs restore_command once per segment and waits for it; a Node start per
 * segment costs more than the segment's decryption. The fallback's `wal fetch` also fetches,
 * decrypts and verifies the next segments into the prefetch directory (prefetch.ts), so the next
 * N requests are a rename in the shell. restore_command runs with the data directory as its
 * working directory (PostgreSQL's postmaster chdirs there), so the relative path is the data
 * directory's own and survives moving it. A failing mv of a present file exits 126: PostgreSQL
 * treats statuses above 125 as fatal instead of "not archived", which would end recovery early.
 *
 * Quoting, in two layers: the shell's (every literal word single-quoted unless it is plainly
 * safe), then PostgreSQL's, which replaces %f, %p, %r and %% before the shell sees the line: a
 * literal `%` (a config directory named `50%`) must be written `%%`, or PostgreSQL 17 refuses the
 * line ("unexpected placeholder") and older servers substitute into it.
 */

/** Where prefetched segments wait, relative to the data directory (restore_command's cwd). */
export const PREFETCH_DIR = "pg_wal/.backdrill-prefetch";

/** A placeholder PostgreSQL fills in: the file's name (%f) or where to put it (%p). */
export interface Placeholder {
  placeholder: "%f" | "%p";
}

export const FILE_NAME: Placeholder = { placeholder: "%f" };
export const DEST_PATH: Placeholder = { placeholder: "%p" };

/** One shell word: a literal, a placeholder, or literals and placeholders joined without a space. */
export type Word = string | Placeholder | ReadonlyArray<string | Placeholder>;

const SAFE = /^[\w@%+=:,./-]+$/;

/** A literal for sh, then for PostgreSQL's placeholder expansion. */
function literal(text: string): string {
  const shell = text !== "" && SAFE.test(text) ? text : `'${text.replace(/'/g, "'\\''")}'`;
  return shell.replace(/%/g, "%%");
}

/** Renders one word of the line. */
export function renderWord(word: Word): string {
  const parts = typeof word === "string" || !Array.isArray(word) ? [word as string | Placeholder] : word;
  return parts.map((part) => (typeof part === "string" ? literal(part) : part.placeholder)).join("");
}

/** The restore_command line: the prefetched file if present, else `fallback` (argv words). */
export function restoreCommandLine(fallback: readonly Word[]): string {
  const prefetched = renderWord([`${PREFETCH_DIR}/`, FILE_NAME]);
  return (
    `if [ -f ${prefetched} ]; then mv -f ${prefetched} %p || exit 126; ` +
    `else exec ${fallback.map(renderWord).join(" ")}; fi`
  );
}
