import { randomBytes } from "node:crypto";

/**
 * Snapshot ids sort by time as plain strings: `20261128T021500Z-3f9a1c` (UTC, second precision,
 * then 6 random hex digits so two runs in the same second never collide).
 */
const SNAPSHOT_ID = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z-([0-9a-f]{6})$/;

export function newSnapshotId(at: Date = new Date()): string {
  const stamp = at
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d{3}Z$/, "Z");
  return `${stamp}-${randomBytes(3).toString("hex")}`;
}

export function isSnapshotId(value: string): boolean {
  return SNAPSHOT_ID.test(value);
}

/** The time encoded in an id (second precision). */
export function snapshotIdTime(id: string): Date {
  const match = SNAPSHOT_ID.exec(id);
  if (match === null) throw new Error(`not a snapshot id: ${id}`);
  const [, year, month, day, hour, minute, second] = match;
  return new Date(`${year}-${month}-${day}T${hour}:${minute}:${second}Z`);
}
