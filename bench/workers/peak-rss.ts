/**
 * A bench worker's own peak RSS: VmHWM of its memory map. getrusage's maxRSS is not it on Linux:
 * execve keeps the high-water mark of the image it replaced, i.e. the bench runner's RSS at the
 * fork (≈ 200 MiB once the runner holds a 100,000-file tree), so every worker reported at least
 * what its parent held. Falls back to maxRSS where /proc is missing.
 */
import { readFileSync } from "node:fs";

export function peakRssKiB(): number {
  const match = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync("/proc/self/status", "utf8"));
  return match?.[1] === undefined ? process.resourceUsage().maxRSS : Number(match[1]);
}
