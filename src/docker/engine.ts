/**
 * Which Docker engine drills run on: a drill's `engine:` setting, else DOCKER_HOST, else the local
 * default. The one place that parses the address, pins it for the process and decides where the
 * containers' published ports are reached.
 *
 * Why pinned for the process: Testcontainers reads DOCKER_HOST (and DOCKER_TLS_VERIFY,
 * DOCKER_CERT_PATH) once, when its client is first created, and keeps that client. Pinning writes
 * the engine into process.env before then, so Testcontainers and every `docker` CLI child (which
 * inherit DOCKER_* through the allow-list in exec/process.ts) talk to the same engine. A second
 * drill in the same process on another engine is refused, never silently sent to the first one.
 *
 * Why probed first: when DOCKER_HOST does not answer, Testcontainers falls back to
 * /var/run/docker.sock, i.e. a drill meant for another engine would quietly run on the local one.
 * The probe fails the drill with one line naming the engine instead.
 */
import { readFile } from "node:fs/promises";
import http from "node:http";
import https from "node:https";
import { homedir } from "node:os";
import path from "node:path";
import { OperationError, UsageError } from "../errors.js";

export const LOOPBACK = "127.0.0.1";
const EVERY_INTERFACE = "0.0.0.0";
const PROBE_TIMEOUT_MS = 10_000;

export type Engine =
  | { url: string; transport: "unix"; socketPath: string; source: string }
  | {
      url: string;
      transport: "tcp";
      host: string;
      port: number;
      /** DOCKER_CERT_PATH with DOCKER_TLS_VERIFY=1: ca.pem, cert.pem, key.pem (Docker's own semantics). */
      tlsCertPath: string | undefined;
      source: string;
    };

/** The engine address forms, for messages. */
export const ENGINE_FORMS = "unix:///path/to/docker.sock or tcp://host:port";

/**
 * Parses an engine address; a string is the reason it is refused. ssh:// is refused: Testcontainers
 * cannot reach an engine over ssh, so containers would be started on one engine and probed on another.
 */
export function parseEngineUrl(
  value: string,
): { transport: "unix"; socketPath: string } | { transport: "tcp"; host: string; port: number } | string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return `expected ${ENGINE_FORMS}, got ${JSON.stringify(value)}`;
  }
  if (url.protocol === "unix:") {
    if (url.hostname !== "" || !url.pathname.startsWith("/") || url.pathname === "/") {
      return `a unix socket needs an absolute path (unix:///var/run/docker.sock), got ${JSON.stringify(value)}`;
    }
    return { transport: "unix", socketPath: decodeURIComponent(url.pathname) };
  }
  if (url.protocol === "tcp:") {
    if (url.hostname === "") return `tcp:// needs a host (tcp://host:2376), got ${JSON.stringify(value)}`;
    if (url.port === "")
      return `tcp:// needs a port (tcp://${url.hostname}:2376), got ${JSON.stringify(value)}`;
    if ((url.pathname !== "" && url.pathname !== "/") || url.search !== "" || url.username !== "") {
      return `tcp:// takes only host and port, got ${JSON.stringify(value)}`;
    }
    return { transport: "tcp", host: url.hostname.replace(/^\[(.*)\]$/, "$1"), port: Number(url.port) };
  }
  if (url.protocol === "ssh:") {
    return (
      `ssh:// engines are not supported (Testcontainers cannot reach them): expose the engine on ` +
      `tcp:// with TLS, or forward its socket (ssh -nNT -L /run/remote-docker.sock:/var/run/docker.sock user@host) and use unix://`
    );
  }
  return `expected ${ENGINE_FORMS}, got ${JSON.stringify(value)}`;
}

/**
 * The engine a drill runs on: its `engine:` setting, else DOCKER_HOST, else undefined (the local
 * default, left to Docker and Testcontainers as before). TLS follows Docker's variables.
 */
export function resolveEngine(
  setting: { engine?: string | undefined; drill: string },
  env: NodeJS.ProcessEnv,
): Engine | undefined {
  const fromDrill = setting.engine !== undefined;
  const value = setting.engine ?? env.DOCKER_HOST;
  if (value === undefined || value === "") return undefined;
  const source = fromDrill ? `engine: of drill ${setting.drill}` : "DOCKER_HOST";
  const parsed = parseEngineUrl(value);
  if (typeof parsed === "string") throw new UsageError(`${source}: ${parsed}`);
  if (parsed.transport === "unix") return { url: value, ...parsed, source };
  const tls =
    env.DOCKER_TLS_VERIFY !== undefined && env.DOCKER_TLS_VERIFY !== "" && env.DOCKER_TLS_VERIFY !== "0";
  const tlsCertPath = tls ? (env.DOCKER_CERT_PATH ?? path.join(homedir(), ".docker")) : undefined;
  return { url: value, ...parsed, tlsCertPath, source };
}

/** Whether the engine's published ports are on another machine (not a local socket nor loopback). */
export function isRemote(engine: Engine | undefined): boolean {
  if (engine === undefined || engine.transport === "unix") return false;
  return !(engine.host === "localhost" || engine.host === "::1" || engine.host.startsWith("127."));
}

/** The address containers' published ports are reached on: loopback, or the remote engine's host. */
export function containerAddress(engine: Engine | undefined): string {
  return engine !== undefined && engine.transport === "tcp" && isRemote(engine) ? engine.host : LOOPBACK;
}

/**
 * Where ports are published on the engine's host: loopback when that host is this machine; on a
 * remote engine every interface, since backdrill reaches them over the network (docs/security.md).
 */
export function publishAddress(engine: Engine | undefined): string {
  return isRemote(engine) ? EVERY_INTERFACE : LOOPBACK;
}

/** The DOCKER_* variables that point a docker CLI (or Testcontainers) at `engine`. */
export function engineEnv(engine: Engine): Record<string, string | undefined> {
  return {
    DOCKER_HOST: engine.url,
    // A context would be ignored with DOCKER_HOST set, but the CLI warns about it on every call.
    DOCKER_CONTEXT: undefined,
    DOCKER_TLS_VERIFY: engine.transport === "tcp" && engine.tlsCertPath !== undefined ? "1" : undefined,
    DOCKER_CERT_PATH: engine.transport === "tcp" ? engine.tlsCertPath : undefined,
  };
}

/** The engine's server version, over its API (GET /version); a one-line error naming it otherwise. */
export async function probeEngine(engine: Engine, timeoutMs = PROBE_TIMEOUT_MS): Promise<string> {
  const fail = (detail: string, cause?: unknown): OperationError =>
    new OperationError(`Docker engine ${engine.url} (${engine.source}) is not reachable: ${detail}`, {
      cause,
      hint: `start that engine, or point ${engine.source} at one that answers (docker --host ${engine.url} info)`,
    });
  let tls: { ca: Buffer; cert: Buffer; key: Buffer } | undefined;
  if (engine.transport === "tcp" && engine.tlsCertPath !== undefined) {
    const dir = engine.tlsCertPath;
    try {
      tls = {
        ca: await readFile(path.join(dir, "ca.pem")),
        cert: await readFile(path.join(dir, "cert.pem")),
        key: await readFile(path.join(dir, "key.pem")),
      };
    } catch (error) {
      throw fail(`cannot read its TLS files in DOCKER_CERT_PATH ${dir} (ca.pem, cert.pem, key.pem)`, error);
    }
  }
  const body = await new Promise<string>((resolve, reject) => {
    const options: https.RequestOptions = {
      path: "/version",
      timeout: timeoutMs,
      ...(engine.transport === "unix"
        ? { socketPath: engine.socketPath }
        : { host: engine.host, port: engine.port, ...tls }),
    };
    const request = (tls === undefined ? http : https).get(options, (response) => {
      let text = "";
      response.setEncoding("utf8");
      response.on("data", (chunk: string) => (text += chunk));
      response.on("end", () =>
        response.statusCode === 200
          ? resolve(text)
          : reject(new Error(`HTTP ${response.statusCode ?? "?"} from /version`)),
      );
      response.on("error", reject);
    });
    request.on("timeout", () => request.destroy(new Error(`no answer within ${timeoutMs / 1000} s`)));
    request.on("error", reject);
  }).catch((error: unknown) => {
    const reason = error instanceof Error ? error.message : String(error);
    throw fail(reason.replace(/\s*\n\s*/g, " "), error);
  });
  try {
    const version = (JSON.parse(body) as { Version?: unknown }).Version;
    if (typeof version === "string") return version;
  } catch {
    // fall through: not Docker's answer
  }
  throw fail("its /version answer is not Docker's");
}

interface Pinned {
  engine: Engine | undefined;
  drill: string;
}
let pinned: Pinned | undefined;

/** The engine this process's drills run on (undefined: the local default, or nothing pinned yet). */
export function pinnedEngine(): Engine | undefined {
  return pinned?.engine;
}

/**
 * Pins the drill's engine for this process (see the header): probes it, then writes its DOCKER_*
 * variables into `env`. Called before anything creates Testcontainers' client. Refuses a drill on
 * another engine than the one already pinned.
 */
export async function pinEngine(
  drill: string,
  engine: Engine | undefined,
  env: NodeJS.ProcessEnv = process.env,
): Promise<void> {
  if (pinned !== undefined) {
    if (pinned.engine?.url === engine?.url) return;
    throw new UsageError(
      `drill ${drill} runs on Docker engine ${engine?.url ?? "(local default)"} but drill ${pinned.drill} ` +
        `in this run already uses ${pinned.engine?.url ?? "(local default)"}: run drills on different engines ` +
        `in separate backdrill drill commands`,
    );
  }
  if (engine !== undefined) {
    await probeEngine(engine);
    for (const [name, value] of Object.entries(engineEnv(engine))) {
      if (value === undefined) delete env[name];
      else env[name] = value;
    }
    // Testcontainers derives the containers' address from DOCKER_HOST unless this is set; keep
    // it where the ports are published (an operator's own override still wins).
    env.TESTCONTAINERS_HOST_OVERRIDE ??= containerAddress(engine);
  }
  pinned = { engine, drill };
}

/**
 * The engine in force for work outside a drill's pin (backups' tool containers): the pinned one,
 * else DOCKER_HOST when it parses.
 */
export function currentEngine(env: NodeJS.ProcessEnv = process.env): Engine | undefined {
  if (pinned !== undefined) return pinned.engine;
  const value = env.DOCKER_HOST;
  if (value === undefined || value === "") return undefined;
  const parsed = parseEngineUrl(value);
  if (typeof parsed === "string") return undefined;
  return parsed.transport === "unix"
    ? { url: value, ...parsed, source: "DOCKER_HOST" }
    : { url: value, ...parsed, tlsCertPath: undefined, source: "DOCKER_HOST" };
}
