/**
 * A pass-through stage that reads the tar stream pg_basebackup writes and keeps copies of a few
 * small members (backup_label, backup_manifest) while the bytes flow on to encryption untouched.
 * That way the manifest's start/stop LSN and timeline come from the backup itself, in one pass,
 * with no second connection and no temporary plaintext on disk.
 *
 * Understands ustar headers (what PostgreSQL writes) and skips pax/GNU extension members by
 * their sizes; it never alters the stream, so an unusual member only means nothing is captured.
 */
import { Transform, type TransformCallback } from "node:stream";

const BLOCK = 512;

export class TarPeek extends Transform {
  /** Captured members by name (with any leading "./" removed). */
  readonly files = new Map<string, Buffer>();
  private header = Buffer.alloc(0);
  /** Bytes of the current member's data still to come, then its padding. */
  private dataLeft = 0;
  private padLeft = 0;
  private capturing: { name: string; chunks: Buffer[] } | undefined;
  private ended = false;

  constructor(
    private readonly wanted: ReadonlySet<string>,
    private readonly maxBytes = 16 * 1024 * 1024,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.parse(chunk);
    callback(null, chunk);
  }

  private parse(chunk: Buffer): void {
    let offset = 0;
    while (offset < chunk.length && !this.ended) {
      if (this.dataLeft > 0) {
        const take = Math.min(this.dataLeft, chunk.length - offset);
        this.capturing?.chunks.push(Buffer.from(chunk.subarray(offset, offset + take)));
        this.dataLeft -= take;
        offset += take;
        if (this.dataLeft === 0 && this.capturing !== undefined) {
          this.files.set(this.capturing.name, Buffer.concat(this.capturing.chunks));
          this.capturing = undefined;
        }
        continue;
      }
      if (this.padLeft > 0) {
        const take = Math.min(this.padLeft, chunk.length - offset);
        this.padLeft -= take;
        offset += take;
        continue;
      }
      const need = BLOCK - this.header.length;
      const take = Math.min(need, chunk.length - offset);
      this.header = Buffer.concat([this.header, chunk.subarray(offset, offset + take)]);
      offset += take;
      if (this.header.length === BLOCK) {
        this.onHeader(this.header);
        this.header = Buffer.alloc(0);
      }
    }
  }

  private onHeader(block: Buffer): void {
    if (block.every((byte) => byte === 0)) {
      // End-of-archive marker (two zero blocks); anything after is none of our business.
      this.ended = true;
      return;
    }
    const field = (start: number, length: number) =>
      block
        .subarray(start, start + length)
        .toString("latin1")
        .replace(/\0.*$/s, "");
    const size = Number.parseInt(field(124, 12).trim() || "0", 8);
    const type = field(156, 1);
    const prefix = field(345, 155);
    const rawName = prefix === "" ? field(0, 100) : `${prefix}/${field(0, 100)}`;
    const name = rawName.replace(/^\.\//, "");
    this.dataLeft = Number.isFinite(size) ? size : 0;
    this.padLeft = (BLOCK - (this.dataLeft % BLOCK)) % BLOCK;
    const regular = type === "0" || type === "" || type === "\0";
    if (regular && this.wanted.has(name) && this.dataLeft <= this.maxBytes) {
      this.capturing = { name, chunks: [] };
      if (this.dataLeft === 0) {
        this.files.set(name, Buffer.alloc(0));
        this.capturing = undefined;
      }
    }
  }
}
