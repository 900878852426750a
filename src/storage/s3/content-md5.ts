/**
 * Adds a Content-MD5 header to PutObject and UploadPart requests.
 *
 * S3 (and moto) refuse a PutObject into an Object Lock bucket without an integrity header
 * ("InvalidContentMD5"). The SDK only adds checksums on its own with
 * `requestChecksumCalculation: "WHEN_SUPPORTED"`, whose CRC32 trailers S3-compatible servers
 * handle inconsistently, so we run with "WHEN_REQUIRED" and add the one header every server
 * understands. `Upload` (lib-storage) hands each part over as a Buffer, so the digest costs one
 * pass over memory we already hold; the server then verifies every part end to end.
 * `ContentMD5` cannot be passed as an `Upload` parameter instead: the same parameters go to every
 * part, and each part needs its own digest.
 */
import { createHash } from "node:crypto";
import type { S3Client } from "@aws-sdk/client-s3";

const COMMANDS = new Set(["PutObjectCommand", "UploadPartCommand"]);
const NAME = "backdrillContentMd5";

interface HttpRequestLike {
  headers: Record<string, string>;
  body?: unknown;
}

function isHttpRequestLike(value: unknown): value is HttpRequestLike {
  return (
    value !== null && typeof value === "object" && "headers" in value && typeof value.headers === "object"
  );
}

function bytesOf(body: unknown): Uint8Array | undefined {
  if (body instanceof Uint8Array) return body;
  if (typeof body === "string") return Buffer.from(body, "utf8");
  return undefined; // a stream: cannot digest without consuming it
}

/**
 * The middleware. Generic over the handler's argument and result so it fits the SDK's
 * `BuildMiddleware` type without importing @smithy/types (not a direct dependency).
 */
function contentMd5Middleware<A extends { request: unknown }, R>(
  next: (args: A) => Promise<R>,
  context: { commandName?: string },
): (args: A) => Promise<R> {
  return async (args) => {
    const request = args.request;
    if (COMMANDS.has(context.commandName ?? "") && isHttpRequestLike(request)) {
      const hasDigest = Object.keys(request.headers).some((name) => name.toLowerCase() === "content-md5");
      const bytes = bytesOf(request.body);
      if (!hasDigest && bytes !== undefined) {
        request.headers["content-md5"] = createHash("md5").update(bytes).digest("base64");
      }
    }
    return next(args);
  };
}

/** Installs the middleware (idempotent: a second install replaces the first). */
export function installContentMd5(client: S3Client): void {
  // The build step runs after serialization (the body exists) and before signing (finalizeRequest),
  // so the header is covered by the signature.
  client.middlewareStack.add(contentMd5Middleware, { step: "build", name: NAME, override: true });
}
