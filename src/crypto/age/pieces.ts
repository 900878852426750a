/**
 * A FIFO of buffers that hands out byte ranges as lists of zero-copy views, so that 64 KiB STREAM
 * chunks can be cut from arbitrarily sized writes without concatenating them first.
 */
export class PieceQueue {
  private pieces: Buffer[] = [];
  private head = 0;
  private total = 0;

  get length(): number {
    return this.total;
  }

  push(piece: Buffer): void {
    if (piece.length === 0) return;
    this.pieces.push(piece);
    this.total += piece.length;
  }

  /** Removes and returns the first `n` bytes as views into the queued buffers. */
  take(n: number): Buffer[] {
    if (n > this.total) throw new RangeError(`take(${n}) with ${this.total} bytes queued`);
    const out: Buffer[] = [];
    let remaining = n;
    while (remaining > 0) {
      const piece = this.pieces[this.head] as Buffer;
      if (piece.length <= remaining) {
        out.push(piece);
        remaining -= piece.length;
        this.pieces[this.head++] = EMPTY;
      } else {
        out.push(piece.subarray(0, remaining));
        this.pieces[this.head] = piece.subarray(remaining);
        remaining = 0;
      }
    }
    this.total -= n;
    // Compact now and then, so the array does not grow without bound.
    if (this.head > 64) {
      this.pieces = this.pieces.slice(this.head);
      this.head = 0;
    }
    return out;
  }

  /** Removes the first `n` bytes as one buffer (copies only if they span several pieces). */
  takeContiguous(n: number): Buffer {
    const parts = this.take(n);
    return parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts, n);
  }
}

const EMPTY = Buffer.alloc(0);
