/**
 * Newline-separated files a backup writes and reads as streams (the hash cache, the source
 * records, the list of files to copy again), so that their size never becomes the process's
 * memory (issue 19).
 */
import { closeSync, createReadStream, fsyncSync, openSync, writeSync } from "node:fs";

/**
 * Pieces of 32 KiB: a string or Buffer above V8's regular object size (128 KiB) lives in the
 * large-object space, freed only by a full GC, so big pieces pile up as garbage and raise the
 * peak RSS with the file count (issue 19). Small ones die young.
 */
const PIECE = 32 * 1024;

/**
 * Appends text to a new private (0600) local file with synchronous writes of ≈ 32 KiB: the file
 * is a temp file on this machine, each write lands in the page cache in microseconds, and a
 * synchronous writer needs no back-pressure handling inside the backup's loops.
 */
export class LocalLineWriter {
  private readonly fd: number;
  private pending: string[] = [];
  private pendingChars = 0;
  private closed = false;
  count = 0;

  constructor(readonly file: string) {
    this.fd = openSync(file, "wx", 0o600);
  }

  /** Writes `text` followed by `terminator` (a newline, or NUL for rsync's --from0). */
  write(text: string, terminator = "\n"): void {
    this.pending.push(text, terminator);
    this.pendingChars += text.length + 1;
    this.count += 1;
    if (this.pendingChars >= PIECE) this.flush();
  }

  private flush(): void {
    if (this.pending.length === 0) return;
    const buffer = Buffer.from(this.pending.join(""));
    this.pending = [];
    this.pendingChars = 0;
    for (let offset = 0; offset < buffer.length;) offset += writeSync(this.fd, buffer, offset);
  }

  /** Flushes and closes; with `sync`, fsyncs first. Idempotent. */
  close(options: { sync?: boolean } = {}): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.flush();
      if (options.sync === true) fsyncSync(this.fd);
    } finally {
      closeSync(this.fd);
    }
  }
}

/** The lines of a local file (the final one may lack its newline), in batches, streamed. */
export async function* readLocalLines(file: string, signal?: AbortSignal): AsyncGenerator<string[]> {
  const stream = createReadStream(file, {
    encoding: "utf8",
    highWaterMark: PIECE,
    ...(signal === undefined ? {} : { signal }),
  });
  let rest = "";
  for await (const chunk of stream) {
    const lines = (rest + (chunk as string)).split("\n");
    rest = lines.pop() ?? "";
    if (lines.length > 0) yield lines;
  }
  if (rest !== "") yield [rest];
}

/** Line by line over batches of lines, pulling the next batch only when one is needed. */
export class LineCursor {
  private batch: string[] = [];
  private index = 0;
  private done = false;

  constructor(private readonly source: AsyncIterator<string[]>) {}

  static of(lines: AsyncIterable<string[]>): LineCursor {
    return new LineCursor(lines[Symbol.asyncIterator]());
  }

  /** The next line, or undefined at the end. */
  async next(): Promise<string | undefined> {
    while (this.index >= this.batch.length) {
      if (this.done) return undefined;
      const step = await this.source.next();
      if (step.done === true) {
        this.done = true;
        return undefined;
      }
      this.batch = step.value;
      this.index = 0;
    }
    const line = this.batch[this.index];
    this.index += 1;
    return line;
  }

  /** Stops the underlying source early (closes its file). */
  async close(): Promise<void> {
    if (this.done) return;
    this.done = true;
    await this.source.return?.();
  }
}
