/**
 * `backdrill report --html OUT [--job J]` through the real CLI (in-process main()): the file it
 * writes (0600, replaced atomically), what it prints, and exit 2 with a one-line message naming
 * the argument for every bad OUT.
 */
import { mkdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHistoryFixture, type HistoryFixture } from "../support/history-fixture.js";
import { runCli } from "../support/run-cli.js";

let fixture: HistoryFixture;

beforeAll(async () => {
  fixture = await createHistoryFixture({ snapshots: [4, 3], drills: 5 });
});

afterAll(async () => {
  await fixture?.cleanup();
});

function report(...args: string[]) {
  return runCli(["report", ...args, "--config-dir", fixture.configDir]);
}

describe("backdrill report --html", () => {
  it("writes the page 0600, replacing an existing file, and prints where and the overall status", async () => {
    const out = join(fixture.dir, "report.html");
    await writeFile(out, "old", { mode: 0o644 });
    const result = await report("--html", out);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    expect((await stat(out)).mode & 0o777).toBe(0o600);
    const html = await readFile(out, "utf8");
    expect(html).toMatch(/^<!doctype html>/);
    expect(result.stdout).toMatch(
      new RegExp(
        `^report: ${out} \\(\\d+ KiB, 2 jobs\\): ATTENTION, mq: newest snapshot older than the RPO\\n$`,
      ),
    );
  });

  it("--job limits the page to one job; --json prints the result for tools", async () => {
    const out = join(fixture.dir, "task-db.html");
    const result = await report("--html", out, "--job", "task-db", "--json");
    expect(result.code).toBe(0);
    const parsed = JSON.parse(result.stdout) as Record<string, unknown>;
    expect(parsed).toMatchObject({ file: out, jobs: 1, ok: true, problems: [], warnings: [] });
    expect(parsed.bytes).toBe((await stat(out)).size);
    const html = await readFile(out, "utf8");
    expect(html).toContain('<a href="#job-0">task-db</a></nav>');
    expect(html).not.toContain('href="#job-1"');
  });

  it.each([
    ["no --html at all", [], /Missing required argument: html/],
    ["an empty path", ["--html", ""], /--html: give the path of the HTML file to write/],
    [
      "a directory",
      ["--html", "{dir}"],
      /--html .*: is a directory \(hint: give a file path, e\.g\. .*backdrill-report\.html\)/,
    ],
    [
      "a missing directory",
      ["--html", "{dir}/nope/report.html"],
      /--html .*nope\/report\.html: directory .*nope does not exist \(hint: create it first\)/,
    ],
    [
      "a file as directory",
      ["--html", "{dir}/file.txt/report.html"],
      /--html .*: .*file\.txt is not a directory/,
    ],
    [
      "an unknown job",
      ["--html", "{dir}/x.html", "--job", "task"],
      /unknown job "task" \(configured jobs: mq, task-db\)/,
    ],
  ])("exits 2 for %s, in one line naming the argument", async (_what, args, message) => {
    await mkdir(join(fixture.dir, "plain"), { recursive: true });
    await writeFile(join(fixture.dir, "plain", "file.txt"), "");
    const result = await report(...args.map((arg) => arg.replace("{dir}", join(fixture.dir, "plain"))));
    expect(result.code).toBe(2);
    expect(result.stdout).toBe("");
    expect(result.stderr.trim().split("\n")).toHaveLength(1);
    expect(result.stderr).toMatch(message);
    expect(await stat(join(fixture.dir, "plain", "x.html")).catch(() => null)).toBeNull();
  });
});
