/**
 * The owner of resources (containers, temp dirs, child processes, uploads) for one operation.
 * Each acquisition registers its release with `defer`; `close()` releases in reverse order, on
 * success, failure and Ctrl-C alike, and keeps going when one release fails so a stuck container
 * does not leave a temp dir full of plaintext behind.
 */
export type Release = () => void | Promise<void>;

export class Scope {
  private readonly releases: Array<{ what: string; release: Release }> = [];
  private closed = false;

  /** Registers a release; returns it for callers that want to release early (see `release`). */
  defer(what: string, release: Release): Release {
    if (this.closed) throw new Error(`scope already closed; cannot take ownership of ${what}`);
    this.releases.push({ what, release });
    return release;
  }

  /** Releases one resource now (and forgets it), e.g. a container no longer needed mid-drill. */
  async release(release: Release): Promise<void> {
    const index = this.releases.findIndex((entry) => entry.release === release);
    if (index === -1) return;
    const [entry] = this.releases.splice(index, 1);
    await entry?.release();
  }

  /** Releases everything in reverse order. Idempotent. Returns the errors met, never throws. */
  async close(): Promise<Array<{ what: string; error: unknown }>> {
    this.closed = true;
    const errors: Array<{ what: string; error: unknown }> = [];
    while (this.releases.length > 0) {
      const entry = this.releases.pop();
      if (entry === undefined) break;
      try {
        await entry.release();
      } catch (error) {
        errors.push({ what: entry.what, error });
      }
    }
    return errors;
  }
}

/** Runs `body` with a fresh scope and always closes it; release errors are reported, not thrown. */
export async function withScope<T>(
  body: (scope: Scope) => Promise<T>,
  onReleaseError?: (what: string, error: unknown) => void,
): Promise<T> {
  const scope = new Scope();
  try {
    return await body(scope);
  } finally {
    for (const { what, error } of await scope.close()) onReleaseError?.(what, error);
  }
}
