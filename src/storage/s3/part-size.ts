/**
 * Multipart part sizes. S3 takes at most 10,000 parts of 5 MiB to 5 GiB each (the last may be
 * smaller), and parts of one upload need not be the same size. A stream of unknown length
 * therefore starts with small parts, which keeps memory low for the artifacts a backup usually
 * writes, and grows them every PARTS_PER_STEP parts, so the largest object is not capped by the
 * starting size: with the default 5 MiB, parts stay 5 MiB up to 9.8 GiB, and an object can reach
 * 146 GiB (a fixed 8 MiB part size stopped at 78 GiB). Memory grows with the part only for the
 * objects that need it.
 */

const MIB = 1024 * 1024;
/** S3's limits ("Amazon S3 multipart upload limits"). */
export const MIN_PART_SIZE = 5 * MIB;
export const MAX_PART_SIZE = 5 * 1024 * MIB;
export const MAX_PARTS = 10_000;
/** Default starting part size: the smallest S3 allows, the least memory per upload. */
export const DEFAULT_PART_SIZE = MIN_PART_SIZE;
/** Parts 1..2000 use the base size, 2001..4000 twice it, 4001..6000 three times, and so on. */
export const PARTS_PER_STEP = 2_000;

/** Size of part `partNumber` (1-based) of an upload that starts with `base`-sized parts. */
export function partSizeAt(base: number, partNumber: number, partsPerStep = PARTS_PER_STEP): number {
  return Math.min(MAX_PART_SIZE, base * Math.ceil(partNumber / partsPerStep));
}

/** The largest object an upload starting with `base`-sized parts can store in 10,000 parts. */
export function multipartCapacity(base: number): number {
  let total = 0;
  for (let first = 1; first <= MAX_PARTS; first += PARTS_PER_STEP) {
    total += partSizeAt(base, first) * Math.min(PARTS_PER_STEP, MAX_PARTS - first + 1);
  }
  return total;
}

/**
 * The starting part size for a body: the configured one, raised when a known length would not
 * fit in 10,000 parts otherwise (rounded up to whole MiB so parts stay aligned and readable).
 */
export function basePartSize(configured: number, contentLength: number | undefined): number {
  if (contentLength === undefined || multipartCapacity(configured) >= contentLength) return configured;
  // Below the 5 GiB cap the capacity is linear in the base (one MiB of base holds
  // multipartCapacity(MIB)); above it, grown parts are capped, so search up from that estimate.
  let low = Math.max(configured, Math.ceil(contentLength / multipartCapacity(MIB)) * MIB);
  if (multipartCapacity(low) >= contentLength) return Math.min(low, MAX_PART_SIZE);
  let high = MAX_PART_SIZE;
  if (multipartCapacity(high) < contentLength) return MAX_PART_SIZE; // S3 cannot hold it at all
  while (high - low > MIB) {
    const middle = low + Math.floor((high - low) / 2 / MIB) * MIB;
    if (multipartCapacity(middle) >= contentLength) high = middle;
    else low = middle;
  }
  return high;
}
