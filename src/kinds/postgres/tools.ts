/**
 * How the PostgreSQL client tools run: from a host directory (`tools.binDir`) or inside a
 * throwaway container of an image (`tools.image`) on the host network. Either way the libpq
 * settings (and PGPASSWORD) travel as environment variables: `docker run -e NAME` without a value
 * copies NAME from the docker CLI's environment, so the password never appears in any argv, not
 * even docker's.
 *
 * The dump bytes: host tools stream through stdin/stdout pipes. In a container on a local engine,
 * pg_dump and pg_dumpall write and pg_restore reads a FIFO in a private directory bind-mounted at
 * the same path (tool-fifo.ts), so the dump never travels through the docker CLI's attach stream
 * (~10 % of a backup's time); the caller still gets a stdout Readable / stdin Writable. A remote
 * engine cannot see our files and keeps the attach stream (`docker run -i`).
 *
 * pg_dump refuses a server newer than itself, and a pg_restore older than the pg_dump that wrote
 * an archive cannot read it; we check majors up front so the error says which tools to use.
 */
import { randomBytes } from "node:crypto";
import { hostname, release as kernelRelease } from "node:os";
import path from "node:path";
import { OperationError } from "../../errors.js";
import { isPidAlive } from "../../lifecycle/pid.js";
import type { Scope } from "../../lifecycle/scope.js";
import { run, spawnStream, type RunResult, type StreamingProcess } from "../../exec/process.js";
import type { Readable, Writable } from "node:stream";
import type { Tools as ToolsConfig } from "./config-schema.js";
import { imagePresent, missingImageError, type PullPolicy } from "../../docker/container.js";
import { currentEngine, isRemote } from "../../docker/engine.js";
import { untilExit } from "./streams.js";
import { makeToolFifo, type ToolFifo } from "./tool-fifo.js";

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

/** Which stream of a tool a FIFO can carry: what pg_dump/pg_dumpall write, what pg_restore reads. */
const FIFO_STREAM: Partial<Record<PgTool, "stdout" | "stdin">> = {
  pg_dump: "stdout",
  pg_dumpall: "stdout",
  pg_restore: "stdin",
};

/** Tools whose output is a dump: never empty, so empty output is a tool that did not run. */
const DUMP_TOOLS: ReadonlySet<PgTool> = new Set(["pg_dump", "pg_dumpall"]);

/** The FIFO and its directory as plans (`--dry-run`) show them: never a real temp path. */
export const FIFO_PLACEHOLDER = { path: "<fifo>", dir: "<fifo-dir>" } as const;

/** Where a tool container's FIFO is: its path and the directory mounted for it. */
export interface FifoPlace {
  path: string;
  dir: string;
}

/**
 * The tool's own arguments for a FIFO: pg_dump and pg_dumpall write it (--no-sync: their final
 * fsync would reopen the path and wait for a reader that is gone), pg_restore reads it.
 */
function fifoArgs(tool: PgTool, fifo: string): string[] {
  return tool === "pg_restore" ? [fifo] : [`--file=${fifo}`, "--no-sync"];
}

/** Docker's refusal of a bind mount whose source the engine does not have. */
const MOUNT_FAILURE =
  /bind source path does not exist|invalid mount config|error while creating mount source path|mounts denied/i;

/** The hint for an engine that looks local but does not share our file system. */
const NOT_OUR_FILESYSTEM_HINT =
  "the Docker engine does not share this machine's file system (Docker Desktop's VM, or a socket " +
  "from another host or container), so the tool container cannot open backdrill's FIFO: set " +
  "tools.binDir to local PostgreSQL client tools, or point DOCKER_HOST at the engine as a remote " +
  "one (tcp://host:port) so the tools stream through docker's pipes";

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
  /** Whether the engine runs on our kernel (a FIFO connects only there), asked once. */
  private kernelChecked: Promise<void> | undefined;
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

  /**
   * The command line that runs `tool args`; env values are passed by name only. With `fifo` the
   * tool writes (pg_dump, pg_dumpall) or reads (pg_restore) that FIFO instead of stdout/stdin,
   * its directory bind-mounted at the same path.
   */
  invocation(
    tool: PgTool,
    args: readonly string[],
    options: Pick<ToolOptions, "env" | "mounts"> & { fifo?: FifoPlace | undefined },
  ): Invocation {
    const toolArgs = options.fifo === undefined ? [...args] : [...args, ...fifoArgs(tool, options.fifo.path)];
    if ("binDir" in this.config) return { file: path.join(this.binDir(), tool), args: toolArgs };
    const sandbox = this.options.sandbox;
    const network = sandbox === undefined ? "host" : `container:${sandbox.containerId}`;
    const docker = [
      "run",
      "--rm",
      // Through a FIFO nothing is read from docker's stdin.
      ...(options.fifo === undefined ? ["-i"] : []),
      `--pull=${this.pull}`,
      "--network",
      network,
      "--label",
      TOOL_CONTAINER_LABEL,
    ];
    for (const name of Object.keys(options.env).sort()) docker.push("-e", name);
    const mounts = options.mounts ?? [];
    if (mounts.length > 0 || options.fifo !== undefined) {
      const engine = currentEngine();
      if (isRemote(engine)) {
        // A remote engine would mount ITS directory of that name: the tool's files would not be ours.
        const local = [...mounts, ...(options.fifo === undefined ? [] : [options.fifo.dir])];
        throw new OperationError(
          `tools.image ${this.config.image} needs local directories mounted (${local.join(", ")}), ` +
            `which the remote Docker engine ${engine?.url ?? ""} cannot see: use tools.binDir, or a local engine`,
        );
      }
      // Files the tool writes must belong to us, so we can read and delete them afterwards.
      const uid = process.getuid?.() ?? 0;
      const gid = process.getgid?.() ?? 0;
      docker.push("--user", `${uid}:${gid}`);
      for (const mount of mounts) docker.push("-v", `${mount}:${mount}`);
      // --mount, not -v: -v creates a missing source directory, which would hide an engine that
      // does not see our file system behind a FIFO nobody else ever opens.
      if (options.fifo !== undefined) {
        const dir = options.fifo.dir;
        docker.push("--mount", `type=bind,${mountField("source", dir)},${mountField("target", dir)}`);
      }
    }
    return { file: "docker", args: [...docker, this.config.image, tool, ...toolArgs] };
  }

  /**
   * Whether `tool`'s streamed `stream` goes through a FIFO: pg_dump/pg_dumpall output and
   * pg_restore input, in a container on a local engine. Host tools and a remote engine use pipes.
   */
  usesFifo(tool: PgTool, stream: "stdout" | "stdin"): boolean {
    return "image" in this.config && FIFO_STREAM[tool] === stream && !isRemote(currentEngine());
  }

  /**
   * A shell-like rendering for plans: `docker run ... pg_restore -d task`. Values never shown.
   * `stream` is what the caller streams; through a FIFO it shows as FIFO_PLACEHOLDER.
   */
  display(
    tool: PgTool,
    args: readonly string[],
    options: Pick<ToolOptions, "env" | "mounts"> & { stream?: "stdout" | "stdin" },
  ): string {
    const fifo =
      options.stream !== undefined && this.usesFifo(tool, options.stream) ? FIFO_PLACEHOLDER : undefined;
    const { file, args: all } = this.invocation(tool, args, { ...options, fifo });
    return [file, ...all]
      .map((part) => (/^[\w@%+=:,./<>-]+$/.test(part) ? part : JSON.stringify(part)))
      .join(" ");
  }

  /**
   * Starts a tool with streamed stdin/stdout. With an image, the container gets a name and is
   * force-removed if the tool does not end cleanly (a SIGKILLed docker CLI leaves it running);
   * on a local engine a dump or restore stream goes through a FIFO (see the header). A dump
   * tool's (pg_dump, pg_dumpall) stdout is gated on its exit (streams.ts `untilExit`): it ends only
   * once the tool exited 0, fails with the tool's error otherwise (a truncated dump is never
   * stored as complete), and fails when it ended empty although the tool exited 0. Callers store
   * it as it is.
   */
  async spawn(
    tool: PgTool,
    args: readonly string[],
    options: ToolOptions & { stdin?: "pipe" | "ignore" | Readable; stdout?: "pipe" | "ignore" },
  ): Promise<StreamingProcess> {
    const env = this.toolEnv(options.env);
    const stdout = options.stdout ?? "pipe";
    const stdin = options.stdin ?? "ignore";
    const stream =
      stdout === "pipe" && this.usesFifo(tool, "stdout")
        ? "stdout"
        : stdin !== "ignore" && this.usesFifo(tool, "stdin")
          ? "stdin"
          : undefined;
    if (stream !== undefined) {
      await this.requireOurKernel();
      return this.spawnThroughFifo(tool, args, { ...options, env }, stream);
    }
    const { file, args: argv, name } = this.named(this.invocation(tool, args, { ...options, env }));
    const child = spawnStream(file, argv, {
      env,
      signal: options.signal,
      description: options.description,
      stdin,
      stdout,
    });
    this.cleanUpAfter(name, child.done);
    return stdout === "pipe" && DUMP_TOOLS.has(tool)
      ? withOutput(child, this.nonEmpty(child.stdout, child, tool, options.description))
      : child;
  }

  /**
   * A tool container on a local engine whose dump (stdout) or input (stdin) is a FIFO: the
   * caller gets our end of it as the process's stdout / stdin. The FIFO's directory is removed
   * once the tool has exited and our end is closed (or when the scope closes).
   */
  private async spawnThroughFifo(
    tool: PgTool,
    args: readonly string[],
    options: ToolOptions & { stdin?: "pipe" | "ignore" | Readable },
    stream: "stdout" | "stdin",
  ): Promise<StreamingProcess> {
    const fifo = await makeToolFifo(this.scope, options.description);
    const { file, args: argv, name } = this.named(this.invocation(tool, args, { ...options, fifo }));
    const child = spawnStream(file, argv, {
      env: options.env,
      signal: options.signal,
      description: options.description,
      stdin: "ignore",
      stdout: "ignore",
    });
    this.cleanUpAfter(name, child.done);
    const done = child.done.catch((error: unknown) => {
      throw notOurFilesystem(error, fifo);
    });
    done.catch(() => undefined);
    const kill = (signal?: NodeJS.Signals) => child.kill(signal);
    let end: Readable | Writable;
    let result: StreamingProcess;
    if (stream === "stdout") {
      const reader = fifo.reader(done);
      end = reader;
      // A failed tool fails our end too (what it left in the pipe is not a dump); on success the
      // pipe may still hold its last bytes, read to the end.
      done.catch((error: unknown) =>
        reader.destroy(error instanceof Error ? error : new Error(String(error))),
      );
      result = {
        stdout: this.nonEmpty(reader, { done }, tool, options.description),
        stdin: child.stdin,
        done,
        kill,
      };
    } else {
      const writer = fifo.writer(done);
      end = writer;
      // A tool that exits early closes its end: EPIPE here is reported through `done`, and our
      // end is closed then even if the input never ends (a damaged artifact).
      writer.on("error", () => undefined);
      done.catch(() => writer.destroy());
      if (typeof options.stdin === "object") options.stdin.pipe(writer);
      result = { stdout: child.stdout, stdin: writer, done, kill };
    }
    const closed = new Promise((resolve) => end.once("close", resolve));
    void Promise.allSettled([done, closed]).then(() => fifo.remove());
    return result;
  }

  /**
   * A dump tool's output, ending once the tool exited 0 and failing when it wrote nothing: an
   * empty artifact would pass for a dump of nothing (an image whose entrypoint ignored the tool).
   */
  private nonEmpty(
    output: Readable,
    child: Pick<StreamingProcess, "done">,
    tool: PgTool,
    description: string,
  ): Readable {
    return untilExit(output, child, () => {
      return new OperationError(
        `${description} exited with code 0 but wrote nothing; refusing to store an empty dump`,
        {
          hint: `check that ${this.describe()} runs ${tool} itself (its entrypoint must run the command it is given)`,
        },
      );
    });
  }

  /**
   * A FIFO connects two processes on one kernel only: an engine in a VM (Docker Desktop) may even
   * mount our directory, but its FIFO would be another one and both ends would wait forever. So
   * the engine's kernel must be ours; when it cannot be asked, the mount decides (best effort).
   */
  private requireOurKernel(): Promise<void> {
    this.kernelChecked ??= run("docker", ["version", "--format", "{{.Server.KernelVersion}}"], {
      description: "docker version (the engine's kernel)",
    }).then(
      (result) => {
        const theirs = result.stdout.trim();
        if (theirs !== "" && theirs !== kernelRelease()) {
          throw new OperationError(
            `tools.image ${"image" in this.config ? this.config.image : ""}: the Docker engine runs on kernel ${theirs}, ` +
              `this machine on ${kernelRelease()}; a FIFO cannot connect a tool container there with backdrill`,
            { hint: NOT_OUR_FILESYSTEM_HINT },
          );
        }
      },
      () => undefined,
    );
    return this.kernelChecked;
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

/**
 * One `key=value` field of `--mount`, which docker reads as a CSV record: a value holding a comma
 * or a double quote (a TMPDIR can) makes the whole field quoted by CSV rules (checked against
 * docker 20.10: `"source=/tmp/a,b""c"` mounts /tmp/a,b"c); anything else is left as it is.
 */
export function mountField(key: string, value: string): string {
  const field = `${key}=${value}`;
  return /[",]/.test(value) ? `"${field.replace(/"/g, '""')}"` : field;
}

/** `child` with another stdout (the same process otherwise). */
function withOutput(child: StreamingProcess, stdout: Readable): StreamingProcess {
  return { stdout, stdin: child.stdin, done: child.done, kill: (signal) => child.kill(signal) };
}

/**
 * A failed tool container that never got its FIFO's directory mounted: the engine looks local
 * but does not see our files. Any other failure is passed on as it is.
 */
function notOurFilesystem(error: unknown, fifo: Pick<ToolFifo, "dir">): unknown {
  const message = error instanceof Error ? error.message : String(error);
  if (!MOUNT_FAILURE.test(message)) return error;
  return new OperationError(`${message} (the FIFO directory ${fifo.dir} is not on the engine's host)`, {
    cause: error,
    hint: NOT_OUR_FILESYSTEM_HINT,
  });
}
