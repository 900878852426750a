/**
 * Gluing child processes to artifact streams so that a failing process can never pass for a
 * complete artifact, and a failing artifact stream can never leave a process waiting forever.
 */
import { Transform, type Readable } from "node:stream";
import { OperationError } from "../../errors.js";
import type { StreamingProcess } from "../../exec/process.js";

/**
 * The child's stdout, ending only once the child has exited successfully. When pg_dump dies
 * mid-way its stdout still ends normally; without this gate the truncated dump would be stored as
 * if complete. With it, the stream errors with the child's (redacted) error instead.
 */
export function untilExit(
  output: Readable,
  child: Pick<StreamingProcess, "done">,
  /** With this, output that ends empty although the child succeeded fails with its error. */
  emptyError?: () => Error,
): Readable {
  let bytes = 0;
  const gate = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      bytes += chunk.length;
      callback(null, chunk);
    },
    flush(callback) {
      child.done.then(
        () => callback(bytes === 0 ? emptyError?.() : undefined),
        (error: unknown) => callback(error instanceof Error ? error : new Error(String(error))),
      );
    },
  });
  output.once("error", (error) => gate.destroy(error));
  output.pipe(gate);
  return gate;
}

/**
 * Waits for a child that reads `input` on stdin. If the input fails (a damaged or undecryptable
 * artifact), stdin would never end and the child would wait forever: kill it and report the
 * input's error, prefixed with the artifact's name, rather than "killed by SIGTERM".
 */
export async function waitWithInput(
  child: StreamingProcess,
  input: Readable,
  inputName: string,
): Promise<void> {
  let inputError: unknown;
  const onError = (error: unknown) => {
    inputError ??= error;
    child.kill();
  };
  input.once("error", onError);
  try {
    await child.done;
  } catch (error) {
    throw inputError === undefined ? error : artifactError(inputName, inputError);
  } finally {
    input.off("error", onError);
  }
  if (inputError !== undefined) throw artifactError(inputName, inputError);
}

/** An error reading an artifact (damaged, undecryptable, missing), naming the artifact. */
export function artifactError(name: string, error: unknown): OperationError {
  const message = error instanceof Error ? error.message : String(error);
  return new OperationError(`artifact ${name}: ${message}`, { cause: error });
}

/**
 * Awaits several parts of one step (pg_dump, storing its output, reading facts). On the first
 * failure the others are aborted through `controller`; the error reported is the first that
 * happened, because the later ones are usually consequences ("killed", "aborted").
 */
export async function allOrAbort<T extends readonly unknown[]>(
  controller: AbortController,
  promises: { [K in keyof T]: Promise<T[K]> },
): Promise<T> {
  let first: { error: unknown } | undefined;
  const watched = promises.map((promise: Promise<unknown>) =>
    promise.catch((error: unknown) => {
      if (first === undefined) {
        first = { error };
        controller.abort(error);
      }
      throw error;
    }),
  );
  const settled = await Promise.allSettled(watched);
  if (first !== undefined) throw first.error;
  return settled.map((result) => (result.status === "fulfilled" ? result.value : undefined)) as unknown as T;
}
