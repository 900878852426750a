/**
 * An HTTP proxy in front of the S3 test server (moto) that injects the faults a real server
 * cannot be made to produce on cue:
 *
 *   - answering 500 InternalError / 503 SlowDown to every request, to the next N, or to every k-th;
 *   - "stopping": every open connection is destroyed and new ones are refused (the listening
 *     socket is closed), as when the server process dies or its host drops off the network;
 *     `start()` listens on the same port again. moto keeps its state meanwhile, which a real
 *     `docker stop` would not;
 *   - stopping by itself once a number of request-body bytes has been forwarded, to stop at a
 *     chosen moment in the middle of an upload;
 *   - dropping the `If-None-Match` header, as an S3-compatible server that ignores conditional
 *     writes would (`ignoreConditionalWrites`).
 *
 * It counts requests per S3 operation (from method and query: `POST ?uploads` is
 * CreateMultipartUpload, `PUT ?partNumber&uploadId` UploadPart, ...), faulted ones included, so
 * tests can assert that retries are bounded.
 *
 * Clients sign requests for the proxy's host:port; the Host header is passed on unchanged, and
 * moto does not check signatures, so forwarding needs no re-signing.
 */
import http from "node:http";
import type { AddressInfo, Socket } from "node:net";

export type S3Operation = string;

export type FaultKind = { status: 500; code: "InternalError" } | { status: 503; code: "SlowDown" };
export const INTERNAL_ERROR: FaultKind = { status: 500, code: "InternalError" };
export const SLOW_DOWN: FaultKind = { status: 503, code: "SlowDown" };

type FaultMode =
  | { kind: "none" }
  | { kind: "all"; fault: FaultKind }
  | { kind: "next"; fault: FaultKind; remaining: number }
  | { kind: "every"; fault: FaultKind; k: number; seen: number };

/** The S3 operation a request is, by method and query parameters (path-style requests). */
export function classify(method: string, url: string): S3Operation {
  const parsed = new URL(url, "http://proxy");
  const q = parsed.searchParams;
  const segments = parsed.pathname.split("/").filter((s) => s !== "");
  const onObject = segments.length >= 2;
  switch (method) {
    case "POST":
      if (q.has("uploads")) return "CreateMultipartUpload";
      if (q.has("uploadId")) return "CompleteMultipartUpload";
      if (q.has("delete")) return "DeleteObjects";
      break;
    case "PUT":
      if (q.has("partNumber") && q.has("uploadId")) return "UploadPart";
      if (!onObject) return `PutBucket${[...q.keys()].sort().join("&")}`;
      return "PutObject";
    case "DELETE":
      if (q.has("uploadId")) return "AbortMultipartUpload";
      return onObject ? "DeleteObject" : "DeleteBucket";
    case "GET":
      if (q.has("uploads")) return "ListMultipartUploads";
      if (q.has("uploadId")) return "ListParts";
      if (!onObject) {
        if (q.get("list-type") === "2") return "ListObjectsV2";
        if (q.has("versions")) return "ListObjectVersions";
        const keys = [...q.keys()].sort();
        return keys.length === 0 ? "ListObjects" : `GetBucket${keys.join("&")}`;
      }
      return "GetObject";
    case "HEAD":
      return onObject ? "HeadObject" : "HeadBucket";
  }
  return `${method} ${[...q.keys()].sort().join("&")}`;
}

export class S3FaultProxy {
  /** Requests received per operation, faulted ones included (reset with `resetCounts`). */
  readonly counts = new Map<S3Operation, number>();
  /** Request-body bytes forwarded to the server since the start (or `resetCounts`). */
  forwardedBytes = 0;
  /** Forward requests without `If-None-Match`: the server then overwrites where it should refuse. */
  ignoreConditionalWrites = false;
  private mode: FaultMode = { kind: "none" };
  private stopAt: number | undefined;
  private server: http.Server;
  private readonly sockets = new Set<Socket>();
  private readonly upstreamRequests = new Set<http.ClientRequest>();
  private port = 0;
  private listening = false;
  private stopWaiters: Array<() => void> = [];

  constructor(private readonly upstream: string) {
    this.server = this.createServer();
  }

  /** http://127.0.0.1:PORT, stable across stop/start. */
  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get stopped(): boolean {
    return !this.listening;
  }

  async start(): Promise<this> {
    if (this.listening) return this;
    if (this.port !== 0) this.server = this.createServer(); // a closed server cannot listen again
    await new Promise<void>((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(this.port, "127.0.0.1", () => {
        this.server.off("error", reject);
        resolve();
      });
    });
    this.port = (this.server.address() as AddressInfo).port;
    this.listening = true;
    return this;
  }

  /** Destroys every connection (client and upstream side) and refuses new ones until `start()`. */
  async stop(): Promise<void> {
    if (!this.listening) return;
    this.listening = false;
    this.stopAt = undefined;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const request of this.upstreamRequests) request.destroy();
    for (const socket of this.sockets) socket.destroy();
    await closed;
    const waiters = this.stopWaiters;
    this.stopWaiters = [];
    for (const waiter of waiters) waiter();
  }

  /** Stops by itself once `bytes` more request-body bytes have been forwarded. */
  stopAfterForwardedBytes(bytes: number): void {
    this.stopAt = this.forwardedBytes + bytes;
  }

  /** Resolves when the proxy has stopped (at once if it is stopped). */
  whenStopped(): Promise<void> {
    if (!this.listening) return Promise.resolve();
    return new Promise((resolve) => this.stopWaiters.push(resolve));
  }

  failAll(fault: FaultKind = INTERNAL_ERROR): void {
    this.mode = { kind: "all", fault };
  }

  failNext(n: number, fault: FaultKind = INTERNAL_ERROR): void {
    this.mode = { kind: "next", fault, remaining: n };
  }

  /** The k-th, 2k-th, ... request from now on fails. */
  failEvery(k: number, fault: FaultKind = INTERNAL_ERROR): void {
    this.mode = { kind: "every", fault, k, seen: 0 };
  }

  heal(): void {
    this.mode = { kind: "none" };
  }

  /**
   * Requests per SDK invocation (the `amz-sdk-invocation-id` header stays the same across the
   * retries of one call; `amz-sdk-request: attempt=N; max=M` numbers them): operation and the
   * highest attempt number seen. Shows whether retries were bounded per call and not multiplied
   * by an outer layer (which would start new invocations).
   */
  readonly invocations = new Map<string, { operation: S3Operation; requests: number; maxAttempt: number }>();

  /** Requests faulted since the counts were reset. */
  faulted = 0;

  /**
   * Called for every request after it is counted and before a fault is picked, so a test can
   * switch faults at a chosen moment (e.g. `failAll()` at the first UploadPart).
   */
  onRequest: ((operation: S3Operation) => void) | undefined;

  resetCounts(): void {
    this.counts.clear();
    this.invocations.clear();
    this.forwardedBytes = 0;
    this.faulted = 0;
  }

  count(operation: S3Operation): number {
    return this.counts.get(operation) ?? 0;
  }

  total(): number {
    let sum = 0;
    for (const value of this.counts.values()) sum += value;
    return sum;
  }

  async close(): Promise<void> {
    await this.stop();
  }

  private createServer(): http.Server {
    const server = http.createServer((request, response) => this.handle(request, response));
    server.on("connection", (socket) => {
      this.sockets.add(socket);
      socket.once("close", () => this.sockets.delete(socket));
    });
    // Keep-alive sockets must not outlive a stop; nothing else to tune.
    server.keepAliveTimeout = 5_000;
    return server;
  }

  private pickFault(): FaultKind | undefined {
    const mode = this.mode;
    switch (mode.kind) {
      case "none":
        return undefined;
      case "all":
        return mode.fault;
      case "next":
        if (mode.remaining <= 0) return undefined;
        mode.remaining -= 1;
        return mode.fault;
      case "every":
        mode.seen += 1;
        return mode.seen % mode.k === 0 ? mode.fault : undefined;
    }
  }

  private handle(request: http.IncomingMessage, response: http.ServerResponse): void {
    const operation = classify(request.method ?? "GET", request.url ?? "/");
    this.counts.set(operation, this.count(operation) + 1);
    const invocation = request.headers["amz-sdk-invocation-id"];
    if (typeof invocation === "string") {
      const attempt = Number(
        /attempt=(\d+)/.exec(String(request.headers["amz-sdk-request"] ?? ""))?.[1] ?? 1,
      );
      const seen = this.invocations.get(invocation) ?? { operation, requests: 0, maxAttempt: 0 };
      seen.requests += 1;
      seen.maxAttempt = Math.max(seen.maxAttempt, attempt);
      this.invocations.set(invocation, seen);
    }
    this.onRequest?.(operation);
    const fault = this.pickFault();
    if (fault !== undefined) {
      this.faulted += 1;
      // Read the body first: answering mid-upload makes some clients see EPIPE instead of the 500.
      request.resume();
      request.once("end", () => {
        const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${fault.code}</Code><Message>injected by the test proxy</Message><RequestId>fault-${this.faulted}</RequestId></Error>`;
        response.writeHead(fault.status, {
          "content-type": "application/xml",
          "content-length": Buffer.byteLength(body),
        });
        response.end(body);
      });
      return;
    }
    const target = new URL(this.upstream);
    const upstream = http.request({
      host: target.hostname,
      port: target.port,
      method: request.method,
      path: request.url,
      // The proxy already answered "100 Continue" (Node's default); moto gets the body at once.
      headers: Object.fromEntries(
        Object.entries(request.headers).filter(
          ([name]) => name !== "expect" && !(this.ignoreConditionalWrites && name === "if-none-match"),
        ),
      ),
    });
    this.upstreamRequests.add(upstream);
    upstream.once("close", () => this.upstreamRequests.delete(upstream));
    upstream.on("response", (answer) => {
      response.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(response);
      answer.once("error", () => response.destroy());
    });
    upstream.on("error", () => {
      if (!response.headersSent) {
        response.writeHead(502);
        response.end();
      } else {
        response.destroy();
      }
    });
    request.on("data", (chunk: Buffer) => {
      this.forwardedBytes += chunk.length;
      if (this.stopAt !== undefined && this.forwardedBytes >= this.stopAt) {
        this.stopAt = undefined;
        void this.stop();
        return;
      }
      if (!upstream.write(chunk)) {
        request.pause();
        upstream.once("drain", () => request.resume());
      }
    });
    request.once("end", () => upstream.end());
    request.once("error", () => upstream.destroy());
    response.once("close", () => {
      if (!response.writableFinished) upstream.destroy();
    });
  }
}
