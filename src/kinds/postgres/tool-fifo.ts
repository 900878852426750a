/**
 * A named pipe between backdrill and a tool container on a local engine (tools.ts): pg_dump and
 * pg_dumpall write `--file=<fifo>`, pg_restore reads it, and we hold the other end. The bytes
 * then go from the tool to us through the kernel's pipe buffer instead of the docker CLI's attach
 * stream (container → shim → dockerd → HTTP → docker CLI → pipe), which cost ~10 % of a backup.
 *
 * The FIFO (mode 0600) lives alone in a private 0700 directory under TMPDIR (private-temp-dir.ts:
 * named with our pid, owned by a Scope, a SIGKILLed run's directory swept by the next run). Only
 * kernel buffers ever hold the dump: nothing is written to disk.
 *
 * Opening a FIFO blocks until the other end opens it. If the tool never opens it (the container
 * did not start, a wrong entrypoint, a mount the engine could not make) our open would wait
 * forever, holding a thread-pool thread and the process. So when the tool has exited (or the
 * FIFO is removed) before our end is open, we open the FIFO read-write ourselves, which never
 * blocks on Linux and completes the pending open; closing it again leaves our reader at end of
 * file and our writer with EPIPE, and the tool's exit reports what happened.
 */
import { closeSync, constants, createReadStream, createWriteStream, openSync } from "node:fs";
import path from "node:path";
import type { Readable, Writable } from "node:stream";
import { run } from "../../exec/process.js";
import { makePrivateTempDir } from "../../fs/private-temp-dir.js";
import type { Scope } from "../../lifecycle/scope.js";

/** Prefix of the FIFOs' directories in TMPDIR (`backdrill-fifo-<pid>-XXXXXX`). */
export const FIFO_DIR_PREFIX = "backdrill-fifo-";

export interface ToolFifo {
  /** The private directory holding the FIFO (what the tool container mounts). */
  readonly dir: string;
  /** The FIFO itself. */
  readonly path: string;
  /** Our end for a tool that writes the FIFO: what it writes, ending when it closes it. */
  reader(toolExit: Promise<unknown>): Readable;
  /** Our end for a tool that reads the FIFO: closing it is the tool's end of file. */
  writer(toolExit: Promise<unknown>): Writable;
  /** Unblocks a pending open, then removes the directory (also done when the scope closes). */
  remove(): Promise<void>;
}

/** Creates a FIFO for one tool run, owned by `scope`; `what` names it in release errors. */
export async function makeToolFifo(scope: Scope, what: string): Promise<ToolFifo> {
  const dir = await makePrivateTempDir(scope, FIFO_DIR_PREFIX, `FIFO directory for ${what}`);
  const fifo = path.join(dir.path, "fifo");
  let unblock: (() => Promise<void>) | undefined;
  // Deferred after the directory, so released before it: a pending open is completed while the
  // FIFO can still be opened by name.
  const release = scope.defer(`pending open of the FIFO for ${what}`, () => unblock?.());
  try {
    await run("mkfifo", ["-m", "600", fifo], { description: `mkfifo for ${what}` });
  } catch (error) {
    await scope.release(release);
    await dir.remove();
    throw error;
  }

  const guard = (stream: Readable | Writable, toolExit: Promise<unknown>) => {
    let settled = false;
    let opening: Promise<void> | undefined;
    const done = () => {
      settled = true;
    };
    stream.once("open", done);
    stream.once("close", done);
    // Completes our pending open: a read-write open of a FIFO never blocks (Linux) and counts as
    // the missing reader and writer; it is closed once our own open has returned. Synchronous on
    // purpose: our pending open holds a thread-pool thread, and with UV_THREADPOOL_SIZE=1 an
    // asynchronous open would queue behind it forever.
    unblock = () => {
      if (settled) return Promise.resolve();
      opening ??= (async () => {
        let fd: number;
        try {
          fd = openSync(fifo, constants.O_RDWR | constants.O_NONBLOCK);
        } catch {
          return; // gone already: our own open fails with ENOENT instead
        }
        try {
          if (!settled) await new Promise((resolve) => stream.once("open", resolve).once("close", resolve));
        } finally {
          closeSync(fd);
        }
      })();
      return opening;
    };
    const onExit = () => void unblock?.();
    toolExit.then(onExit, onExit);
  };

  return {
    dir: dir.path,
    path: fifo,
    reader(toolExit) {
      const stream = createReadStream(fifo);
      guard(stream, toolExit);
      return stream;
    },
    writer(toolExit) {
      const stream = createWriteStream(fifo);
      guard(stream, toolExit);
      return stream;
    },
    async remove() {
      await scope.release(release);
      await dir.remove();
    },
  };
}
