/**
 * A pass-through stage in front of `tar -x` that reads every member header of a tar stream from a
 * snapshot and fails the stream, before tar sees the member, when it could write outside the
 * directory it is unpacked into, or leave something there a later write would follow:
 *
 *   - absolute names, `..` segments, NUL bytes;
 *   - symbolic links, unless allowed, and then only with a relative target without `..` (such a
 *     link can only point below its own directory, so no chain of them leaves the tree);
 *   - hard links to anything but another relative, contained path;
 *   - devices, FIFOs and any member type tar would treat specially (only files, directories and,
 *     where allowed, links pass).
 *
 * The stage understands what GNU tar does: ustar headers (name with prefix), GNU long names and
 * long link names ('L', 'K'), and pax headers ('x' for the next member, 'g' global) whose `path`,
 * `linkpath` and `size` records override the header. To leave no room for tar and this stage to
 * disagree about where a header is, every header's checksum must be right (tar would skip a bad
 * one and look for the next header inside what we took for data) and a size must parse, or the
 * stream fails. After the end-of-archive block nothing is inspected; GNU tar stops reading there.
 */
import { Transform, type TransformCallback } from "node:stream";
import { IntegrityError } from "../../errors.js";

const BLOCK = 512;
/** pax and long-name members are metadata; anything larger is not what tar writes. */
const MAX_META_BYTES = 1024 * 1024;

export interface TarGuardOptions {
  /** What the archive is, for messages: `the base backup`, `artifact task.tar`. */
  what: string;
  /** Symbolic links with a relative target without `..` pass (a data directory may hold some). */
  allowSymlinks: boolean;
  /** Hard links (to contained paths) pass. */
  allowHardLinks: boolean;
}

/** Why a member name or link target is not a contained relative path, or undefined. */
export function uncontainedPath(name: string): string | undefined {
  if (name.includes("\0")) return "contains a NUL byte";
  if (name.startsWith("/")) return "is absolute";
  const segments = name.split("/").filter((segment) => segment !== "" && segment !== ".");
  if (segments.includes("..")) return "contains '..'";
  return undefined;
}

interface Pending {
  /** pax overrides for the next member. */
  path?: string;
  linkpath?: string;
  size?: number;
}

export class TarGuard extends Transform {
  private header = Buffer.alloc(0);
  private dataLeft = 0;
  private padLeft = 0;
  /** Collecting the data of a metadata member (pax, long name). */
  private meta: { type: string; chunks: Buffer[]; size: number } | undefined;
  private pending: Pending = {};
  private global: Pending = {};
  private ended = false;
  /** How many members passed, for tests and messages. */
  members = 0;

  constructor(private readonly options: TarGuardOptions) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      this.parse(chunk);
    } catch (error) {
      callback(error as Error);
      return;
    }
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    if (!this.ended && (this.header.length > 0 || this.dataLeft > 0 || this.meta !== undefined)) {
      callback(this.refuse("ends in the middle of a member"));
      return;
    }
    callback();
  }

  private refuse(problem: string): IntegrityError {
    return new IntegrityError(
      `${this.options.what} is not a safe tar archive: ${problem}; nothing was unpacked from it after that point`,
      {
        hint: "the snapshot was altered or not written by backdrill: restore another snapshot",
      },
    );
  }

  private parse(chunk: Buffer): void {
    let offset = 0;
    while (offset < chunk.length && !this.ended) {
      if (this.dataLeft > 0) {
        const take = Math.min(this.dataLeft, chunk.length - offset);
        if (this.meta !== undefined)
          this.meta.chunks.push(Buffer.from(chunk.subarray(offset, offset + take)));
        this.dataLeft -= take;
        offset += take;
        if (this.dataLeft === 0 && this.meta !== undefined) this.endMeta();
        continue;
      }
      if (this.padLeft > 0) {
        const take = Math.min(this.padLeft, chunk.length - offset);
        this.padLeft -= take;
        offset += take;
        continue;
      }
      const take = Math.min(BLOCK - this.header.length, chunk.length - offset);
      this.header = Buffer.concat([this.header, chunk.subarray(offset, offset + take)]);
      offset += take;
      if (this.header.length === BLOCK) {
        const block = this.header;
        this.header = Buffer.alloc(0);
        this.onHeader(block);
      }
    }
  }

  private onHeader(block: Buffer): void {
    if (block.every((byte) => byte === 0)) {
      this.ended = true;
      return;
    }
    if (!checksumOk(block)) throw this.refuse("a header with a wrong checksum");
    const text = (start: number, length: number): string => {
      const raw = block.subarray(start, start + length);
      const end = raw.indexOf(0);
      return raw.subarray(0, end < 0 ? raw.length : end).toString("utf8");
    };
    const type = String.fromCharCode(block[156] ?? 0);
    let size = parseSize(block.subarray(124, 136));
    if (size === undefined) throw this.refuse("a header with an unreadable size");
    const magic = block.subarray(257, 263).toString("latin1");
    const prefix = magic.startsWith("ustar") && magic !== "ustar " ? text(345, 155) : "";
    let name = prefix === "" ? text(0, 100) : `${prefix}/${text(0, 100)}`;
    let link = text(157, 100);

    if (type === "x" || type === "g" || type === "L" || type === "K") {
      if (size > MAX_META_BYTES) throw this.refuse(`a ${type} header of ${size} bytes`);
      this.beginData(size);
      this.meta = { type, chunks: [], size };
      if (size === 0) this.endMeta();
      return;
    }

    const pending = { ...this.global, ...this.pending };
    this.pending = {};
    if (pending.path !== undefined) name = pending.path;
    if (pending.linkpath !== undefined) link = pending.linkpath;
    if (pending.size !== undefined) size = pending.size;

    const where = `member ${JSON.stringify(name)}`;
    const badName = uncontainedPath(name);
    if (badName !== undefined || name === "") throw this.refuse(`${where} ${badName ?? "has no name"}`);
    switch (type) {
      case "0":
      case "\0":
      case "7":
        break;
      case "5":
        size = 0;
        break;
      case "2": {
        if (!this.options.allowSymlinks)
          throw this.refuse(`${where} is a symbolic link (to ${JSON.stringify(link)})`);
        const badLink = uncontainedPath(link);
        if (badLink !== undefined || link === "") {
          throw this.refuse(
            `${where} is a symbolic link to ${JSON.stringify(link)}, which ${badLink ?? "is empty"}`,
          );
        }
        size = 0;
        break;
      }
      case "1": {
        if (!this.options.allowHardLinks)
          throw this.refuse(`${where} is a hard link (to ${JSON.stringify(link)})`);
        const badLink = uncontainedPath(link);
        if (badLink !== undefined || link === "") {
          throw this.refuse(
            `${where} is a hard link to ${JSON.stringify(link)}, which ${badLink ?? "is empty"}`,
          );
        }
        size = 0;
        break;
      }
      default:
        throw this.refuse(
          `${where} is of tar type ${JSON.stringify(type)} (a device, FIFO or other special file)`,
        );
    }
    this.members += 1;
    this.beginData(size);
  }

  private beginData(size: number): void {
    this.dataLeft = size;
    this.padLeft = (BLOCK - (size % BLOCK)) % BLOCK;
  }

  private endMeta(): void {
    const meta = this.meta;
    this.meta = undefined;
    if (meta === undefined) return;
    const data = Buffer.concat(meta.chunks);
    if (meta.type === "L" || meta.type === "K") {
      const end = data.indexOf(0);
      const value = data.subarray(0, end < 0 ? data.length : end).toString("utf8");
      if (meta.type === "L") this.pending.path = value;
      else this.pending.linkpath = value;
      return;
    }
    const records = parsePax(data);
    if (records === undefined) throw this.refuse("an unreadable pax header");
    const target = meta.type === "g" ? this.global : this.pending;
    for (const [key, value] of records) {
      if (key === "path") target.path = value;
      else if (key === "linkpath") target.linkpath = value;
      else if (key === "size") {
        if (!/^\d{1,15}$/.test(value)) throw this.refuse("a pax size that is not a number");
        target.size = Number(value);
      }
    }
  }
}

function checksumOk(block: Buffer): boolean {
  const stored = parseOctal(block.subarray(148, 156));
  if (stored === undefined) return false;
  let sum = 0;
  for (let i = 0; i < BLOCK; i += 1) sum += i >= 148 && i < 156 ? 0x20 : (block[i] ?? 0);
  return sum === stored;
}

function parseOctal(field: Buffer): number | undefined {
  const text = field
    .toString("latin1")
    .replace(/[\0 ]+$/, "")
    .replace(/^ +/, "");
  if (text === "") return 0;
  if (!/^[0-7]+$/.test(text)) return undefined;
  return Number.parseInt(text, 8);
}

/** Octal, or GNU's base-256 (first byte 0x80) for sizes beyond 8 GiB. */
function parseSize(field: Buffer): number | undefined {
  const first = field[0] ?? 0;
  if ((first & 0x80) !== 0) {
    if (first !== 0x80) return undefined;
    let value = 0;
    for (let i = 1; i < field.length; i += 1) value = value * 256 + (field[i] ?? 0);
    return Number.isSafeInteger(value) ? value : undefined;
  }
  return parseOctal(field);
}

/** `<length> <key>=<value>\n` records; undefined when malformed. */
function parsePax(data: Buffer): Array<[string, string]> | undefined {
  const records: Array<[string, string]> = [];
  let offset = 0;
  while (offset < data.length) {
    const space = data.indexOf(0x20, offset);
    if (space < 0) return undefined;
    const length = Number(data.subarray(offset, space).toString("latin1"));
    if (!Number.isInteger(length) || length <= space - offset || offset + length > data.length)
      return undefined;
    const record = data.subarray(space + 1, offset + length);
    if (record[record.length - 1] !== 0x0a) return undefined;
    const text = record.subarray(0, record.length - 1).toString("utf8");
    const equals = text.indexOf("=");
    if (equals < 0) return undefined;
    records.push([text.slice(0, equals), text.slice(equals + 1)]);
    offset += length;
  }
  return records;
}
