/**
 * The one order a `files` backup walks trees, writes its manifest and hash cache, and merges them
 * in: "tree order", a directory's entries sorted by name (UTF-16 code units, JavaScript's default
 * sort), each directory followed by everything under it. It equals comparing whole paths with
 * "/" ranked below every other character, so two sorted streams can be merged path by path
 * without holding either in memory (issue 19: memory flat at 100,000 files).
 *
 * Manifests written before this order (sorted by plain path comparison) hold the same entries;
 * their readers (verify, restore, drill) never depended on the order.
 */
const SLASH = 47;

export function compareTreePaths(a: string, b: string): number {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    return (x === SLASH ? -1 : x) - (y === SLASH ? -1 : y);
  }
  return a.length - b.length;
}
