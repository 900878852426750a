import { mkdir, mkdtemp, readFile, rm, writeFile, readdir } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { run } from "../../exec/process.js";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { DEST_PATH, FILE_NAME, PREFETCH_DIR, renderWord, restoreCommandLine } from "./restore-command.js";

const SEGMENT = "000000010000000000000007";
let dataDir: string;

beforeEach(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), "restore-command-"));
  await mkdir(path.join(dataDir, PREFETCH_DIR), { recursive: true });
});

afterEach(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

/**
 * PostgreSQL 17's replace_percent_placeholders (common/percentrepl.c) for restore_command: %f,
 * %p and %r replaced, %% one %, any other % an error.
 */
function expandLikePostgres(line: string, values: { f: string; p: string; r: string }): string {
  let out = "";
  for (let index = 0; index < line.length; index += 1) {
    const char = line[index];
    if (char !== "%") {
      out += char;
      continue;
    }
    const next = line[index + 1];
    index += 1;
    if (next === "%") out += "%";
    else if (next === "f" || next === "p" || next === "r") out += values[next];
    else throw new Error(`String contains unexpected placeholder "%${next ?? ""}"`);
  }
  return out;
}

/** Runs the line as PostgreSQL does: expanded, under sh, in the data directory. */
async function runAsPostgres(line: string, name = SEGMENT, env: NodeJS.ProcessEnv = {}) {
  const command = expandLikePostgres(line, { f: name, p: "pg_wal/RECOVERYXLOG", r: "" });
  return run("sh", ["-c", command], { cwd: dataDir, env, okExitCodes: [0, 1, 126] });
}

describe("restore_command line", () => {
  it("moves a prefetched segment into %p without running the fallback", async () => {
    await writeFile(path.join(dataDir, PREFETCH_DIR, SEGMENT), "prefetched");
    const line = restoreCommandLine(["sh", "-c", "echo fallback >> fallback.log; exit 1"]);
    const result = await runAsPostgres(line);
    expect(result.exitCode).toBe(0);
    expect(await readFile(path.join(dataDir, "pg_wal/RECOVERYXLOG"), "utf8")).toBe("prefetched");
    expect(await readdir(path.join(dataDir, PREFETCH_DIR))).toEqual([]);
    expect(await readdir(dataDir)).not.toContain("fallback.log");
  });

  it("runs the fallback otherwise and passes its exit status on (1: not archived)", async () => {
    const staged = path.join(dataDir, "staged");
    await mkdir(staged);
    await writeFile(path.join(staged, SEGMENT), "staged");
    const line = restoreCommandLine(["cp", [`${staged}/`, FILE_NAME], [DEST_PATH]]);
    expect((await runAsPostgres(line)).exitCode).toBe(0);
    expect(await readFile(path.join(dataDir, "pg_wal/RECOVERYXLOG"), "utf8")).toBe("staged");
    expect((await runAsPostgres(line, "000000010000000000000008")).exitCode).toBe(1);
  });

  it("exits 126 (fatal for PostgreSQL) when a prefetched file cannot be moved", async () => {
    await writeFile(path.join(dataDir, PREFETCH_DIR, SEGMENT), "prefetched");
    // An mv that fails (a full disk, a permission PostgreSQL lacks), first on the PATH.
    const bin = path.join(dataDir, "bin");
    await mkdir(bin);
    await writeFile(path.join(bin, "mv"), "#!/bin/sh\nexit 1\n", { mode: 0o755 });
    const line = restoreCommandLine(["false"]);
    const result = await runAsPostgres(line, SEGMENT, { PATH: `${bin}:${process.env.PATH ?? ""}` });
    expect(result.exitCode).toBe(126);
  });

  it("doubles every literal % for PostgreSQL and single-quotes for the shell", async () => {
    // A config directory with a percent sign, a quote and a space, as an argument after expansion.
    const odd = "/etc/50% off's dir/%f";
    expect(renderWord(odd)).toBe(`'/etc/50%% off'\\''s dir/%%f'`);
    expect(renderWord("/plain/path")).toBe("/plain/path");
    expect(renderWord("100%")).toBe("100%%");
    expect(renderWord("")).toBe("''");
    expect(renderWord(["/wal dir/", FILE_NAME])).toBe(`'/wal dir/'%f`);
    const line = restoreCommandLine([
      "sh",
      "-c",
      'printf "%s|" "$@" > args.txt',
      "argv0",
      odd,
      "100%",
      FILE_NAME,
      DEST_PATH,
      ["x%f-", FILE_NAME],
    ]);
    const result = await runAsPostgres(line);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(await readFile(path.join(dataDir, "args.txt"), "utf8")).toBe(
      `${odd}|100%|${SEGMENT}|pg_wal/RECOVERYXLOG|x%f-${SEGMENT}|`,
    );
  });

  it("without the doubling PostgreSQL 17 would refuse the line", () => {
    const line = restoreCommandLine(["backdrill", "--config-dir", "/etc/50%dir"]);
    expect(() => expandLikePostgres(line, { f: SEGMENT, p: "p", r: "" })).not.toThrow();
    expect(() => expandLikePostgres("cp /etc/50%dir/%f %p", { f: SEGMENT, p: "p", r: "" })).toThrow(
      /unexpected placeholder "%d"/,
    );
  });
});
