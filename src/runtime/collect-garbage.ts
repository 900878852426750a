/**
 * An explicit full garbage collection, for the one place that needs it: the S3 uploader.
 *
 * Why: a streaming upload turns every byte into short-lived 1 MiB Buffers (source reads,
 * ciphertext batches) that are copied into the part buffers and dropped. V8 collects
 * ArrayBuffers when external memory has grown by about 64 MiB since the last full collection,
 * so that much dead ciphertext piled up on top of the part buffers: storing 1 GiB into S3
 * peaked at 156–163 MiB RSS. Collecting once per part keeps the pile to about one part
 * (measured 129–134 MiB with 5 MiB parts); each collection takes 2–6 ms of a heap that holds
 * little else. On a fast link parts come quicker than that pays for, so a collection starts at
 * least MIN_INTERVAL_MS after the previous one ended: at most ~10 % of the JS thread, and between
 * two of them only what arrives in that time piles up.
 *
 * Node exposes `gc` only with --expose-gc; the flag is switched on at run time and the function
 * taken from a fresh context, which is the documented way to reach it without a command-line
 * flag. If that ever fails, collection is skipped: memory is then V8's business as before.
 */
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

const MIN_INTERVAL_MS = 50;

let collect: (() => void) | null | undefined;
let lastRun = 0;

function collector(): (() => void) | null {
  if (collect !== undefined) return collect;
  try {
    const existing = (globalThis as { gc?: unknown }).gc;
    if (typeof existing === "function") {
      collect = existing as () => void;
    } else {
      setFlagsFromString("--expose-gc");
      const gc: unknown = runInNewContext("gc");
      collect = typeof gc === "function" ? (gc as () => void) : null;
    }
  } catch {
    collect = null;
  }
  return collect;
}

/**
 * Runs a full garbage collection now, if the runtime allows it and the last one ended at least
 * MIN_INTERVAL_MS ago; never throws.
 */
export function collectGarbage(): void {
  if (performance.now() - lastRun < MIN_INTERVAL_MS) return;
  try {
    collector()?.();
  } catch {
    // Best effort by design: a failed collection changes nothing but memory use.
  } finally {
    // Counted from the end: a collection that took long (a loaded machine) still leaves the
    // next MIN_INTERVAL_MS to the program, instead of the next call collecting at once.
    lastRun = performance.now();
  }
}
