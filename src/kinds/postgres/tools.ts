/**
 * How the PostgreSQL client tools run: from a host directory (`tools.binDir`) or inside a
 * throwaway container of an image (`tools.image`) on the host network, with stdin/stdout streamed
 * through the docker CLI. Either way the libpq settings (and PGPASSWORD) travel as environment
 * variables: `docker run -e NAME` without a value copies NAME from the docker CLI's environment,
 * so the password never appears in any argv, not even docker's.
 *
 * pg_dump refuses a server newer than itself, and a pg_restore older than the pg_dump that wrote
 * an archive cannot read it; we check majors up front so the error says which tools to use.
 */
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import path from "node:path";
import { OperationError } from "../../errors.js";
import { isPidAlive } from "../../lifecycle/pid.js";
import type { Scope } from "../../lifecycle/scope.js";
import { run, spawnStream, type RunResult, type StreamingProcess } from "../../exec/process.js";
import type { Readable } from "node:stream";
import type { Tools as ToolsConfig } from "./config-schema.js";
import { imagePresent, missingImageError, type PullPolicy } from "../../docker/container.js";
import { currentEngine, isRemote } from "../../docker/engine.js";

export type PgTool =
  "pg_dump" | "pg_dumpall" | "pg_restore" | "psql" | "pg_amcheck" | "pg_basebackup" | "pg_combinebackup";

/** Label on every tool container, so leftovers can be found after a crash. */
export const TOOL_CONTAINER_LABEL = "backdrill.tool=true";
/**
 * `<hostname>:<pid>` of the backdrill process that started a tool container. A SIGKILLed
 * backdrill cannot remove its containers (the docker CLI dies, the container does not: a pg_dump
 * or pg_basebackup of a big database goes on for hours, holding a snapshot and a connection), so
 * the next run on this host removes every tool container whose owner pid is gone.
 */
export const TOOL_OWNER_LABEL = "backdrill.tool.owner";

export interface ToolOptions {
  /** libpq environment (PGHOST, PGPASSWORD, ...). */
  env: Record<string, string>;
  signal?: AbortSignal | undefined;
  /** Human description for errors, e.g. `pg_dump of database task`. */
  description: string;
  /** Host directories the tool reads or writes (directory format); mounted at the same path. */
  mounts?: string[];
}

export interface ToolVersion {
  major: number;
  text: string;
}

export interface Invocation {
  file: string;
  args: string[];
}

/** Parses `pg_dump (PostgreSQL) 17.12 (Debian 17.12-1)` or `psql (PostgreSQL) 18beta1`. */
export function parseToolVersion(output: string): ToolVersion | undefined {
  const match = /\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?\S*/.exec(output);
  if (match === null || match[1] === undefined) return undefined;
  return { major: Number(match[1]), text: match[0].replace(/^\(PostgreSQL\)\s+/, "") };
}

export interface PgToolsOptions {
  /**
   * Whether `tools.image` may be pulled: a backup and a restore never pull (`never`, the
   * default); a drill follows its `pull:` setting. `docker run --pull=…` says so explicitly,
   * so an absent image fails with one line instead of a silent pull.
   */
  pull?: PullPolicy;
  /**
   * A drill's sandbox: tool containers join that container's network namespace
   * (`--network container:<id>`) and reach its server on 127.0.0.1:`port`, instead of the host's
   * network. They then see the sandbox and nothing else, and hold only its throwaway password.
   */
  sandbox?: { containerId: string; port: number };
}

export class PgTools {
  /** One probe per PgTools: every tool of one image or binDir comes from the same PostgreSQL build. */
  private probed: Promise<ToolVersion> | undefined;
  private readonly pull: PullPolicy;

  constructor(
    readonly config: ToolsConfig,
    private readonly scope: Scope,
    private readonly configDir: string,
    private readonly options: PgToolsOptions = {},
  ) {
    this.pull = options.pull ?? "never";
  }

  /**
   * The libpq environment a tool gets: in a sandbox's network namespace the server is on
   * 127.0.0.1 at its container port, whatever host port Docker published it on.
   */
  private toolEnv(env: Record<string, string>): Record<string, string> {
    const sandbox = this.options.sandbox;
    if (sandbox === undefined || !("image" in this.config)) return env;
    return { ...env, PGHOST: "127.0.0.1", PGPORT: String(sandbox.port) };
  }

  /** `image pgvector/pgvector:pg17` or `binDir /usr/lib/postgresql/17/bin`, for messages. */
  describe(): string {
    return "image" in this.config ? `image ${this.config.image}` : `binDir ${this.binDir()}`;
  }

  private binDir(): string {
    return "binDir" in this.config ? path.resolve(this.configDir, this.config.binDir) : "";
  }

  /** The command line that runs `tool args`; env values are passed by name only. */
  invocation(
    tool: PgTool,
    args: readonly string[],
    options: Pick<ToolOptions, "env" | "mounts">,
  ): Invocation {
    if ("binDir" in this.config) return { file: path.join(this.binDir(), tool), args: [...args] };
    const sandbox = this.options.sandbox;
    const network = sandbox === undefined ? "host" : `container:${sandbox.containerId}`;
    const docker = [
      "run",
      "--rm",
      "-i",
      `--pull=${this.pull}`,
      "--network",
      network,
      "--label",
      TOOL_CONTAINER_LABEL,
    ];
    for (const name of Object.keys(options.env).sort()) docker.push("-e", name);
    if (options.mounts !== undefined && options.mounts.length > 0) {
      const engine = currentEngine();
      if (isRemote(engine)) {
        // A remote engine would mount ITS directory of that name: the tool's files would not be ours.
        throw new OperationError(
          `tools.image ${this.config.image} needs local directories mounted (${options.mounts.join(", ")}), ` +
            `which the remote Docker engine ${engine?.url ?? ""} cannot see: use tools.binDir, or a local engine`,
        );
      }
      // Files the tool writes must belong to us, so we can read and delete them afterwards.
      const uid = process.getuid?.() ?? 0;
      const gid = process.getgid?.() ?? 0;
      docker.push("--user", `${uid}:${gid}`);
      for (const mount of options.mounts) docker.push("-v", `${mount}:${mount}`);
    }
    return { file: "docker", args: [...docker, this.config.image, tool, ...args] };
  }

  /** A shell-like rendering for plans: `docker run ... pg_restore -d task`. Values never shown. */
  display(tool: PgTool, args: readonly string[], options: Pick<ToolOptions, "env" | "mounts">): string {
    const { file, args: all } = this.invocation(tool, args, options);
    return [file, ...all]
      .map((part) => (/^[\w@%+=:,./-]+$/.test(part) ? part : JSON.stringify(part)))
      .join(" ");
  }

  /**
   * Starts a tool with streamed stdin/stdout. With an image, the container gets a name and is
   * force-removed if the tool does not end cleanly (a SIGKILLed docker CLI leaves it running).
   */
  spawn(
    tool: PgTool,
    args: readonly string[],
    options: ToolOptions & { stdin?: "pipe" | "ignore" | Readable; stdout?: "pipe" | "ignore" },
  ): StreamingProcess {
    const env = this.toolEnv(options.env);
    const { file, args: argv, name } = this.named(this.invocation(tool, args, { ...options, env }));
    const child = spawnStream(file, argv, {
      env,
      signal: options.signal,
      description: options.description,
      stdin: options.stdin ?? "ignore",
      stdout: options.stdout ?? "pipe",
    });
    this.cleanUpAfter(name, child.done);
    return child;
  }

  /** Runs a tool to completion, buffering its output. */
  async run(
    tool: PgTool,
    args: readonly string[],
    options: ToolOptions & { input?: string; okExitCodes?: number[] },
  ): Promise<RunResult> {
    const env = this.toolEnv(options.env);
    const { file, args: argv, name } = this.named(this.invocation(tool, args, { ...options, env }));
    const result = run(file, argv, {
      env,
      signal: options.signal,
      description: options.description,
      input: options.input,
      okExitCodes: options.okExitCodes,
    });
    this.cleanUpAfter(
      name,
      result.then(() => undefined),
    );
    return result;
  }

  /** Gives a tool container a name we can force-remove; host binaries need none. */
  private named(invocation: Invocation): Invocation & { name?: string } {
    if (invocation.file !== "docker") return invocation;
    const name = `backdrill-tool-${randomBytes(6).toString("hex")}`;
    const [runWord, ...rest] = invocation.args;
    const owner = `${TOOL_OWNER_LABEL}=${hostname()}:${process.pid}`;
    return { file: "docker", args: [runWord ?? "run", "--name", name, "--label", owner, ...rest], name };
  }

  /**
   * Removes tool containers left by killed runs on this host (owner pid no longer alive), once
   * per PgTools, before its first tool starts. Best effort: a failure here must not fail a backup.
   */
  private async reapOrphans(signal?: AbortSignal): Promise<void> {
    if (!("image" in this.config)) return;
    const listed = await run(
      "docker",
      [
        "ps",
        "-a",
        "--filter",
        `label=${TOOL_OWNER_LABEL}`,
        "--format",
        `{{.Names}}\t{{.Label "${TOOL_OWNER_LABEL}"}}`,
      ],
      { signal, description: "docker ps (tool containers of killed runs)" },
    ).catch(() => undefined);
    const host = hostname();
    const orphans = (listed?.stdout ?? "")
      .split("\n")
      .map((line) => line.split("\t"))
      .filter(([name, owner]) => {
        const separator = owner?.lastIndexOf(":") ?? -1;
        if (name === undefined || name === "" || owner === undefined || separator < 0) return false;
        const pid = Number(owner.slice(separator + 1));
        return (
          owner.slice(0, separator) === host &&
          Number.isInteger(pid) &&
          pid !== process.pid &&
          !isPidAlive(pid)
        );
      })
      .map(([name]) => name as string);
    if (orphans.length === 0) return;
    await run("docker", ["rm", "-f", ...orphans], { signal, okExitCodes: [0, 1] }).catch(() => undefined);
  }

  private cleanUpAfter(name: string | undefined, done: Promise<void>): void {
    if (name === undefined) return;
    let clean = false;
    const release = this.scope.defer(`tool container ${name}`, async () => {
      if (clean) return;
      // A docker CLI killed early may leave the daemon still creating the container: an
      // immediate `rm -f` finds nothing and the container appears afterwards, stuck in
      // "Created". Removing again a little later catches it.
      for (const delayMs of [0, 500, 2000]) {
        if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
        await run("docker", ["rm", "-f", name], { okExitCodes: [0, 1] }).catch(() => undefined);
      }
    });
    const settle = (ok: boolean) => {
      clean = ok;
      void this.scope.release(release);
    };
    done.then(
      () => settle(true),
      () => settle(false),
    );
  }

  /**
   * The client tools' version, probed once with `tool --version` (all tools of one image or
   * binDir share it); with an image this also proves the image can be run.
   */
  version(tool: PgTool, signal?: AbortSignal): Promise<ToolVersion> {
    if (this.probed === undefined) {
      const probe = this.reapOrphans(signal)
        .then(() =>
          this.run(tool, ["--version"], {
            env: {},
            signal,
            description: `${tool} --version (${this.describe()})`,
          }),
        )
        .catch(async (error: unknown) => {
          // `docker run --pull=never` of an absent image: one line naming it and how to get it.
          if ("image" in this.config && (await imagePresent(this.config.image)) === false) {
            throw missingImageError(
              this.config.image,
              `tools.image ${this.config.image}`,
              this.pull,
              error instanceof Error ? error.message : String(error),
              error,
            );
          }
          throw error;
        })
        .then((result) => {
          const parsed = parseToolVersion(result.stdout);
          if (parsed === undefined) {
            throw new OperationError(
              `cannot tell the version of ${tool} (${this.describe()}): ${result.stdout.trim()}`,
            );
          }
          return parsed;
        });
      // A failed probe (image missing, daemon down) should be retried next time, not cached.
      probe.catch(() => {
        if (this.probed === probe) this.probed = undefined;
      });
      this.probed = probe;
    }
    return this.probed;
  }

  /**
   * Refuses a client older than `neededMajor` (the server's, or the major that wrote an archive),
   * naming the tools that would work.
   */
  async requireMajor(
    tool: PgTool,
    neededMajor: number,
    against: string,
    signal?: AbortSignal,
  ): Promise<ToolVersion> {
    const version = await this.version(tool, signal);
    if (version.major < neededMajor) {
      const suggestion =
        "image" in this.config
          ? `tools: { image: <an image with PostgreSQL ${neededMajor} client tools, e.g. pgvector/pgvector:pg${neededMajor}> }`
          : `tools: { binDir: /usr/lib/postgresql/${neededMajor}/bin } (or tools: { image: pgvector/pgvector:pg${neededMajor} })`;
      throw new OperationError(
        `${tool} ${version.text} from ${this.describe()} is older than ${against} (PostgreSQL ${neededMajor}); ` +
          `client tools must be at least the server's major version`,
        { hint: `set ${suggestion}` },
      );
    }
    return version;
  }
}
