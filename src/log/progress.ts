import { Transform, type TransformCallback } from "node:stream";

/**
 * A pass-through stage that shows bytes moved and the rate on a TTY (one line, redrawn at most
 * 4 times a second, erased at the end). On anything but a TTY it is a plain pass-through, so cron
 * mails and log files never fill with carriage returns.
 */
export class ProgressStream extends Transform {
  private bytes = 0;
  private lastDraw = 0;
  private readonly started = Date.now();

  constructor(
    private readonly label: string,
    private readonly out: NodeJS.WriteStream & { isTTY?: boolean } = process.stderr,
  ) {
    super();
  }

  private get active(): boolean {
    return this.out.isTTY === true;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    const now = Date.now();
    if (this.active && now - this.lastDraw >= 250) {
      this.lastDraw = now;
      this.draw(now);
    }
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    if (this.active) this.out.write("\r\u001b[2K");
    callback();
  }

  private draw(now: number): void {
    const mib = this.bytes / 1048576;
    const seconds = Math.max((now - this.started) / 1000, 0.001);
    const line = `${this.label}: ${mib.toFixed(1)} MiB, ${(mib / seconds).toFixed(1)} MiB/s`;
    this.out.write(`\r\u001b[2K${line.slice(0, (this.out.columns ?? 80) - 1)}`);
  }
}
