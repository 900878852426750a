import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { OperationError } from "../../errors.js";
import { Scope } from "../../lifecycle/scope.js";
import type { Tools as ToolsConfig } from "./config-schema.js";
import { mountField, parseToolVersion, PgTools, type PgTool } from "./tools.js";

/** Everything a stream gives, as text. */
async function output(stream: Readable): Promise<string> {
  let text = "";
  for await (const chunk of stream) text += String(chunk);
  return text;
}

/**
 * What `tool` of `config` dumps (`<tool> of task` in errors), once it exited; its scope must
 * release cleanly either way.
 */
async function dumped(config: ToolsConfig, tool: PgTool, args: string[] = []): Promise<string> {
  const scope = new Scope();
  try {
    const child = await new PgTools(config, scope, "/config").spawn(tool, args, {
      env: {},
      description: `${tool} of task`,
    });
    const text = await output(child.stdout);
    await child.done;
    return text;
  } finally {
    expect(await scope.close()).toEqual([]);
  }
}

describe("parseToolVersion", () => {
  it("reads the major from Debian, plain and beta version strings", () => {
    expect(parseToolVersion("pg_dump (PostgreSQL) 17.12 (Debian 17.12-0+deb13u1)\n")).toEqual({
      major: 17,
      text: "17.12",
    });
    expect(parseToolVersion("psql (PostgreSQL) 18beta1")).toEqual({ major: 18, text: "18beta1" });
    expect(parseToolVersion("nonsense")).toBeUndefined();
  });
});

describe("PgTools.invocation", () => {
  const env = { PGHOST: "127.0.0.1", PGPASSWORD: "very-secret-pw" };

  it("runs host binaries from binDir", () => {
    const tools = new PgTools({ binDir: "/usr/lib/postgresql/17/bin" }, new Scope(), "/config");
    expect(tools.invocation("pg_dump", ["-Fc"], { env })).toEqual({
      file: "/usr/lib/postgresql/17/bin/pg_dump",
      args: ["-Fc"],
    });
  });

  it("passes libpq settings to the container by name, never by value", () => {
    const tools = new PgTools({ image: "pgvector/pgvector:pg17" }, new Scope(), "/config");
    const { file, args } = tools.invocation("pg_restore", ["--dbname=task"], { env });
    expect(file).toBe("docker");
    expect(args).toEqual(expect.arrayContaining(["--network", "host", "-e", "PGPASSWORD", "-e", "PGHOST"]));
    expect(args.join(" ")).not.toContain("very-secret-pw");
    expect(args.slice(-3)).toEqual(["pgvector/pgvector:pg17", "pg_restore", "--dbname=task"]);
  });

  it("mounts work directories at the same path and runs as the current user", () => {
    const tools = new PgTools({ image: "img" }, new Scope(), "/config");
    const { args } = tools.invocation("pg_dump", ["--file=/tmp/w/dump"], { env: {}, mounts: ["/tmp/w"] });
    expect(args).toEqual(expect.arrayContaining(["-v", "/tmp/w:/tmp/w", "--user"]));
  });

  it("never pulls an image unless told to, and says so on the command line", () => {
    const never = new PgTools({ image: "img" }, new Scope(), "/config");
    expect(never.invocation("psql", [], { env: {} }).args).toContain("--pull=never");
    const missing = new PgTools({ image: "img" }, new Scope(), "/config", { pull: "missing" });
    expect(missing.invocation("psql", [], { env: {} }).args).toContain("--pull=missing");
  });

  it("in a drill's sandbox, joins the sandbox's network only", () => {
    const tools = new PgTools({ image: "img" }, new Scope(), "/config", {
      sandbox: { containerId: "abc123", port: 5432 },
    });
    const { args } = tools.invocation("pg_restore", [], { env });
    expect(args).toEqual(expect.arrayContaining(["--network", "container:abc123"]));
    expect(args).not.toContain("host");
  });
});

describe("PgTools through a FIFO (tools.image on a local engine)", () => {
  const env = { PGHOST: "127.0.0.1", PGPASSWORD: "very-secret-pw" };
  const fifo = { path: "/tmp/backdrill-fifo-1-abcdef/fifo", dir: "/tmp/backdrill-fifo-1-abcdef" };
  const saved = process.env.DOCKER_HOST;

  afterEach(() => {
    if (saved === undefined) delete process.env.DOCKER_HOST;
    else process.env.DOCKER_HOST = saved;
  });

  it("quotes a FIFO directory holding a comma or a quote as docker's --mount CSV expects", () => {
    const tools = new PgTools({ image: "img" }, new Scope(), "/config");
    const odd = { path: '/tmp/a,b"c/fifo', dir: '/tmp/a,b"c' };
    const { args } = tools.invocation("pg_dump", [], { env, fifo: odd });
    expect(args[args.indexOf("--mount") + 1]).toBe('type=bind,"source=/tmp/a,b""c","target=/tmp/a,b""c"');
    expect(mountField("source", "/tmp/plain")).toBe("source=/tmp/plain");
  });

  it("pg_dump writes --file=<fifo> --no-sync, its directory bind-mounted with --mount as our user", () => {
    const tools = new PgTools({ image: "img" }, new Scope(), "/config");
    const { args } = tools.invocation("pg_dump", ["--format=custom", "--snapshot=00000003-1"], { env, fifo });
    const mount = args.indexOf("--mount");
    expect(args[mount + 1]).toBe(`type=bind,source=${fifo.dir},target=${fifo.dir}`);
    expect(args).toEqual(expect.arrayContaining(["--user", `${process.getuid?.()}:${process.getgid?.()}`]));
    // Nothing goes through docker's stdin or a silently created -v directory.
    expect(args).not.toContain("-i");
    expect(args).not.toContain("-v");
    expect(args.slice(-6)).toEqual([
      "img",
      "pg_dump",
      "--format=custom",
      "--snapshot=00000003-1",
      `--file=${fifo.path}`,
      "--no-sync",
    ]);
  });

  it("pg_dumpall also gets --file and --no-sync; pg_restore reads the FIFO as its input file", () => {
    const tools = new PgTools({ image: "img" }, new Scope(), "/config");
    expect(tools.invocation("pg_dumpall", ["--globals-only"], { env, fifo }).args.slice(-3)).toEqual([
      "--globals-only",
      `--file=${fifo.path}`,
      "--no-sync",
    ]);
    const restore = tools.invocation("pg_restore", ["--dbname=task", "--format=custom"], { env, fifo }).args;
    expect(restore.slice(-4)).toEqual(["pg_restore", "--dbname=task", "--format=custom", fifo.path]);
    expect(restore).not.toContain("--no-sync");
  });

  it("is used for dump output and restore input of an image on a local engine only", () => {
    delete process.env.DOCKER_HOST;
    const image = new PgTools({ image: "img" }, new Scope(), "/config");
    expect(image.usesFifo("pg_dump", "stdout")).toBe(true);
    expect(image.usesFifo("pg_dumpall", "stdout")).toBe(true);
    expect(image.usesFifo("pg_restore", "stdin")).toBe(true);
    expect(image.usesFifo("pg_basebackup", "stdout")).toBe(false);
    expect(image.usesFifo("psql", "stdin")).toBe(false);
    expect(image.usesFifo("pg_restore", "stdout")).toBe(false);
    process.env.DOCKER_HOST = "unix:///run/user/1000/docker.sock";
    expect(image.usesFifo("pg_dump", "stdout")).toBe(true);
    process.env.DOCKER_HOST = "tcp://127.0.0.1:2375";
    expect(image.usesFifo("pg_dump", "stdout")).toBe(true);
    // A remote engine cannot see our files: the attach stream, as before.
    process.env.DOCKER_HOST = "tcp://backup-engine.example:2376";
    expect(image.usesFifo("pg_dump", "stdout")).toBe(false);
    const host = new PgTools({ binDir: "/usr/lib/postgresql/17/bin" }, new Scope(), "/config");
    delete process.env.DOCKER_HOST;
    expect(host.usesFifo("pg_dump", "stdout")).toBe(false);
  });

  it("shows a placeholder in plans, never a temp path", () => {
    delete process.env.DOCKER_HOST;
    const tools = new PgTools({ image: "img" }, new Scope(), "/config");
    const line = tools.display("pg_restore", ["--dbname=task", "--format=custom"], { env, stream: "stdin" });
    expect(line).toContain("--mount type=bind,source=<fifo-dir>,target=<fifo-dir>");
    expect(line).toMatch(/ pg_restore --dbname=task --format=custom <fifo>$/);
    expect(line).not.toContain(tmpdir());
    expect(line).not.toContain("very-secret-pw");
    const dump = tools.display("pg_dump", ["--format=custom"], { env, stream: "stdout" });
    expect(dump).toMatch(/ pg_dump --format=custom --file=<fifo> --no-sync$/);
    // Without a stream (psql's script, a directory-format restore) nothing changes.
    expect(tools.display("pg_restore", ["--dbname=task"], { env })).not.toContain("<fifo>");
  });

  it("host tools and a remote engine keep today's pipes in plans", () => {
    const host = new PgTools({ binDir: "/usr/lib/postgresql/17/bin" }, new Scope(), "/config");
    expect(host.display("pg_dump", ["--format=custom"], { env, stream: "stdout" })).toBe(
      "/usr/lib/postgresql/17/bin/pg_dump --format=custom",
    );
    process.env.DOCKER_HOST = "tcp://backup-engine.example:2376";
    const remote = new PgTools({ image: "img" }, new Scope(), "/config");
    const line = remote.display("pg_restore", ["--format=custom"], { env, stream: "stdin" });
    expect(line).toContain(" -i ");
    expect(line).not.toContain("--mount");
    expect(line).not.toContain("<fifo>");
  });
});

describe("PgTools.spawn of host tools", () => {
  let binDir: string;

  beforeAll(async () => {
    binDir = await mkdtemp(path.join(tmpdir(), "backdrill-tools-test-"));
    // A pg_dump that writes a dump, and a pg_dumpall that exits 0 without writing anything.
    await writeFile(path.join(binDir, "pg_dump"), "#!/bin/sh\nprintf 'PGDMP %s' \"$*\"\n", { mode: 0o755 });
    await writeFile(path.join(binDir, "pg_dumpall"), "#!/bin/sh\nexit 0\n", { mode: 0o755 });
  });

  afterAll(async () => {
    await rm(binDir, { recursive: true, force: true });
  });

  it("streams a dump through stdout, no FIFO and no --file", async () => {
    expect(await dumped({ binDir }, "pg_dump", ["--format=custom"])).toBe("PGDMP --format=custom");
  });

  it("fails a dump tool that exited 0 but wrote nothing, instead of storing an empty dump", async () => {
    await expect(dumped({ binDir }, "pg_dumpall", ["--globals-only"])).rejects.toThrow(
      /^pg_dumpall of task exited with code 0 but wrote nothing; refusing to store an empty dump$/,
    );
  });
});

describe("PgTools.spawn through a FIFO, against a stand-in docker CLI", () => {
  let fakeBin: string;
  const savedPath = process.env.PATH;
  const savedHost = process.env.DOCKER_HOST;

  /** A `docker` whose `run` behaves as `script` says; `version` reports `kernel`. */
  async function fakeDocker(run: string, kernel = "$(uname -r)"): Promise<void> {
    const script = [
      "#!/bin/sh",
      `if [ "$1" = version ]; then echo "${kernel}"; exit 0; fi`,
      'if [ "$1" != run ]; then exit 0; fi',
      run,
    ].join("\n");
    await writeFile(path.join(fakeBin, "docker"), `${script}\n`, { mode: 0o755 });
  }

  beforeAll(async () => {
    fakeBin = await mkdtemp(path.join(tmpdir(), "backdrill-fake-docker-"));
    process.env.PATH = `${fakeBin}:${savedPath ?? ""}`;
    delete process.env.DOCKER_HOST;
  });

  afterAll(async () => {
    process.env.PATH = savedPath;
    if (savedHost !== undefined) process.env.DOCKER_HOST = savedHost;
    await rm(fakeBin, { recursive: true, force: true });
  });

  it("reads the dump the container writes into --file=<fifo>", async () => {
    // The last argument is --no-sync, the one before it --file=<fifo>.
    await fakeDocker(
      'for a; do case "$a" in --file=*) f="${a#--file=}";; esac; done; printf PGDMP-dump > "$f"',
    );
    expect(await dumped({ image: "img" }, "pg_dump", ["--format=custom"])).toBe("PGDMP-dump");
  });

  it("feeds pg_restore's input file through the FIFO", async () => {
    const sink = path.join(fakeBin, "restored");
    await fakeDocker(`for a; do f="$a"; done; cat "$f" > ${sink}`);
    const scope = new Scope();
    const tools = new PgTools({ image: "img" }, scope, "/config");
    const input = Readable.from([Buffer.from("PGDMP-"), Buffer.from("archive")]);
    const child = await tools.spawn("pg_restore", ["--format=custom"], {
      env: {},
      description: "pg_restore of task.dump",
      stdin: input,
      stdout: "ignore",
    });
    await child.done;
    expect(await readFile(sink, "utf8")).toBe("PGDMP-archive");
    expect(await scope.close()).toEqual([]);
  });

  it("does not hang when the container never starts, and removes the FIFO", async () => {
    await fakeDocker('echo "docker: Error response from daemon: No such image: img" >&2; exit 125');
    const scope = new Scope();
    const tools = new PgTools({ image: "img" }, scope, "/config");
    const child = await tools.spawn("pg_dump", [], { env: {}, description: "pg_dump of task" });
    await expect(output(child.stdout)).rejects.toThrow(
      /pg_dump of task exited with code 125: .*No such image/,
    );
    await expect(child.done).rejects.toThrow(/exited with code 125/);
    expect(await scope.close()).toEqual([]);
    // Removed once the tool has exited and our end is closed (the removal may still be running).
    const ours = async () =>
      (await readdir(tmpdir())).filter((name) => name.startsWith(`backdrill-fifo-${process.pid}-`));
    for (let i = 0; i < 50 && (await ours()).length > 0; i += 1) await new Promise((r) => setTimeout(r, 20));
    expect(await ours()).toEqual([]);
  });

  it("fails an empty dump from a container whose entrypoint ignored pg_dump", async () => {
    await fakeDocker("exit 0");
    await expect(dumped({ image: "img" }, "pg_dump")).rejects.toThrow(
      /^pg_dump of task exited with code 0 but wrote nothing/,
    );
  });

  it("says to use tools.binDir when the engine cannot mount our FIFO's directory", async () => {
    await fakeDocker(
      'echo "docker: Error response from daemon: invalid mount config for type \\"bind\\": bind source path does not exist: /tmp/x" >&2; exit 125',
    );
    const scope = new Scope();
    const tools = new PgTools({ image: "img" }, scope, "/config");
    const child = await tools.spawn("pg_restore", [], {
      env: {},
      description: "pg_restore of task.dump",
      stdin: Readable.from([Buffer.from("PGDMP")]),
      stdout: "ignore",
    });
    const error = await child.done.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(OperationError);
    expect((error as OperationError).message).toMatch(
      /bind source path does not exist.*not on the engine's host/,
    );
    expect((error as OperationError).hint).toMatch(/set tools\.binDir .* DOCKER_HOST/);
    await scope.close();
  });

  it("refuses an engine on another kernel (a VM) before starting anything", async () => {
    await fakeDocker("exit 99", "6.10.14-linuxkit");
    const scope = new Scope();
    const tools = new PgTools({ image: "img" }, scope, "/config");
    const error = await tools.spawn("pg_dump", [], { env: {}, description: "pg_dump" }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(OperationError);
    expect((error as OperationError).message).toContain("runs on kernel 6.10.14-linuxkit");
    expect((error as OperationError).hint).toContain("tools.binDir");
    expect(await scope.close()).toEqual([]);
  });
});
