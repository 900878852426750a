import { describe, expect, it } from "vitest";
import {
  DEFAULT_PART_SIZE,
  MAX_PARTS,
  MAX_PART_SIZE,
  MIN_PART_SIZE,
  PARTS_PER_STEP,
  basePartSize,
  multipartCapacity,
  partSizeAt,
} from "./part-size.js";

const MIB = 1024 * 1024;
const GIB = 1024 * MIB;

describe("S3 part sizes", () => {
  it("keeps the base size for the first 2,000 parts, then grows by the base every 2,000", () => {
    expect(partSizeAt(5 * MIB, 1)).toBe(5 * MIB);
    expect(partSizeAt(5 * MIB, PARTS_PER_STEP)).toBe(5 * MIB);
    expect(partSizeAt(5 * MIB, PARTS_PER_STEP + 1)).toBe(10 * MIB);
    expect(partSizeAt(5 * MIB, MAX_PARTS)).toBe(25 * MIB);
    expect(partSizeAt(4 * GIB, MAX_PARTS)).toBe(MAX_PART_SIZE);
  });

  it("stores up to 146 GiB of unknown length with the default 5 MiB start (a fixed 5 MiB part held 48.8 GiB)", () => {
    expect(DEFAULT_PART_SIZE).toBe(MIN_PART_SIZE);
    expect(multipartCapacity(DEFAULT_PART_SIZE) / GIB).toBeCloseTo(146.48, 2);
    expect(multipartCapacity(8 * MIB) / GIB).toBeCloseTo(234.38, 2);
    // The sum of the schedule, part by part.
    let total = 0;
    for (let part = 1; part <= MAX_PARTS; part++) total += partSizeAt(7 * MIB, part);
    expect(multipartCapacity(7 * MIB)).toBe(total);
  });

  it("raises the base for a known length only when the configured one cannot hold it", () => {
    expect(basePartSize(5 * MIB, undefined)).toBe(5 * MIB);
    expect(basePartSize(5 * MIB, 100 * GIB)).toBe(5 * MIB);
    const huge = 1024 * GIB;
    const base = basePartSize(5 * MIB, huge);
    expect(base % MIB).toBe(0);
    expect(multipartCapacity(base)).toBeGreaterThanOrEqual(huge);
    expect(multipartCapacity(base - MIB)).toBeLessThan(huge);
    // Near the 5 GiB cap grown parts stop growing, so the base must make up for it.
    const near = basePartSize(5 * MIB, 40 * 1024 * GIB);
    expect(multipartCapacity(near)).toBeGreaterThanOrEqual(40 * 1024 * GIB);
    expect(multipartCapacity(near - MIB)).toBeLessThan(40 * 1024 * GIB);
    expect(basePartSize(5 * MIB, 100 * 1024 * GIB)).toBe(MAX_PART_SIZE);
  });
});
