import { randomInt } from "node:crypto";

/** `count` items chosen uniformly at random (all of them when `count` is undefined or larger). */
export function pickSample<T>(items: readonly T[], count: number | undefined): T[] {
  if (count === undefined || count >= items.length) return [...items];
  const copy = [...items];
  for (let i = 0; i < count; i += 1) {
    const j = i + randomInt(copy.length - i);
    [copy[i], copy[j]] = [copy[j] as T, copy[i] as T];
  }
  return copy.slice(0, count);
}
