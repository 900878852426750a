import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { labelTimeToIso, parseBackupLabel, parseManifestWalRanges } from "./backup-label.js";
import { TarPeek } from "./tar-peek.js";

const LABEL = `START WAL LOCATION: 0/2000028 (file 000000010000000000000002)
CHECKPOINT LOCATION: 0/2000080
BACKUP METHOD: streamed
BACKUP FROM: primary
START TIME: 2026-11-28 16:49:17 UTC
LABEL: pg_basebackup base backup
START TIMELINE: 1
`;

/** A minimal ustar member: header + data + padding. */
function member(name: string, data: Buffer, type = "0"): Buffer {
  const header = Buffer.alloc(512);
  header.write(name, 0, "latin1");
  header.write("0000644\0", 100, "latin1");
  header.write(`${data.length.toString(8).padStart(11, "0")}\0`, 124, "latin1");
  header.write(type, 156, "latin1");
  header.write("ustar\0", 257, "latin1");
  const pad = Buffer.alloc((512 - (data.length % 512)) % 512);
  return Buffer.concat([header, data, pad]);
}

describe("backup_label and backup_manifest", () => {
  it("parses the label", () => {
    expect(parseBackupLabel(LABEL)).toEqual({
      startLsn: "0/2000028",
      startWalFile: "000000010000000000000002",
      timeline: 1,
      startTime: "2026-11-28 16:49:17 UTC",
      label: "pg_basebackup base backup",
    });
    expect(labelTimeToIso("2026-11-28 16:49:17 UTC")).toBe("2026-11-28T16:49:17.000Z");
    expect(() => parseBackupLabel("nonsense")).toThrow(/not in the expected format/);
  });

  it("parses WAL-Ranges", () => {
    const manifest = JSON.stringify({
      "PostgreSQL-Backup-Manifest-Version": 2,
      "WAL-Ranges": [{ Timeline: 1, "Start-LSN": "0/2000028", "End-LSN": "0/2000120" }],
    });
    expect(parseManifestWalRanges(manifest)).toEqual([
      { timeline: 1, startLsn: "0/2000028", endLsn: "0/2000120" },
    ]);
    expect(() => parseManifestWalRanges("{}")).toThrow(/no WAL-Ranges/);
  });
});

describe("TarPeek", () => {
  it("captures wanted members across arbitrary chunk boundaries and passes bytes through unchanged", async () => {
    const big = Buffer.alloc(70_000, 1);
    const tar = Buffer.concat([
      member("backup_label", Buffer.from(LABEL)),
      member("base/1/1259", big),
      member("./pg_wal/", Buffer.alloc(0), "5"),
      member("backup_manifest", Buffer.from('{"x":1}')),
      Buffer.alloc(1024),
    ]);
    for (const size of [1, 7, 511, 512, 4096, 100_000]) {
      const chunks: Buffer[] = [];
      for (let offset = 0; offset < tar.length; offset += size)
        chunks.push(tar.subarray(offset, offset + size));
      const peek = new TarPeek(new Set(["backup_label", "backup_manifest"]));
      const out: Buffer[] = [];
      await pipeline(
        Readable.from(chunks),
        peek,
        new Writable({
          write(chunk: Buffer, _encoding, callback) {
            out.push(chunk);
            callback();
          },
        }),
      );
      expect(Buffer.concat(out).equals(tar)).toBe(true);
      expect(peek.files.get("backup_label")?.toString()).toBe(LABEL);
      expect(peek.files.get("backup_manifest")?.toString()).toBe('{"x":1}');
      expect(peek.files.has("base/1/1259")).toBe(false);
    }
  });
});
