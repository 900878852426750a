import { resolve, sep } from "node:path";

/** True when one of two absolute paths is the other or lies inside it. */
export function isInsideOrContains(child: string, parent: string): boolean {
  const a = resolve(child);
  const b = resolve(parent);
  return a === b || a.startsWith(b.endsWith(sep) ? b : `${b}${sep}`) || b.startsWith(`${a}${sep}`);
}
