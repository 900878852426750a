/**
 * `npm run demo` in CI: the demo's core (runDemo) against a real throwaway stack. Every job kind
 * whose engine is registered must be staged, backed up and drilled; the reports must exist in
 * the shapes the README documents (JSON), a person reads (Markdown) and CI parses (JUnit XML); and
 * nothing may be left behind: no drill container of this process, no stack container, no temp dir.
 */
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { JOB_KINDS } from "../../src/kinds/registry.js";
import { hostname } from "node:os";
import { execa } from "execa";
import { leftoverContainers } from "../../scripts/demo/cleanup.js";
import { SERVICE_NAMES } from "../../scripts/demo/config.js";
import { STACK_OWNER_LABEL } from "../../src/docker/stack-network.js";
import { runDemo, type DemoResult } from "../../scripts/demo/run.js";

let out: string;
let result: DemoResult;
const lines: string[] = [];

beforeAll(async () => {
  out = await mkdtemp(path.join(tmpdir(), "backdrill-demo-test-reports-"));
  result = await runDemo({ reportsOut: out, progress: (line) => lines.push(line), handleSignals: false });
  // On failure the demo's own output is the best explanation.
  if (!result.ok) console.error(lines.join("\n"));
}, 20 * 60_000);

afterAll(async () => {
  if (out !== undefined) await rm(out, { recursive: true, force: true });
});

describe("npm run demo", () => {
  it("stages every registered job kind", () => {
    expect(result.error).toBeUndefined();
    expect(result.included.map((item) => item.kind).sort()).toEqual([...JOB_KINDS].sort());
    expect(result.skipped).toEqual([]);
  });

  it("backs up every included job", () => {
    expect(result.backupExitCode).toBe(0);
    expect(result.backups.map((b) => b.job).sort()).toEqual(result.included.map((item) => item.job).sort());
    for (const backup of result.backups) {
      expect(backup, backup.job).toMatchObject({ ok: true });
      expect(backup.snapshot).toMatch(/^\d{8}T\d{6}Z-[0-9a-f]+$/);
      expect(backup.bytes).toBeGreaterThan(0);
    }
  });

  it("passes the monthly drill with a target per job", () => {
    expect(result.drillExitCode).toBe(0);
    expect(result.drill?.ok).toBe(true);
    const targets = result.drill?.targets ?? [];
    expect(targets.map((t) => t.job).sort()).toEqual(result.included.map((item) => item.job).sort());
    for (const target of targets) {
      expect(
        target.checks.filter((check) => !check.ok),
        target.job,
      ).toEqual([]);
      expect(target.ok, target.job).toBe(true);
      // The drill restored exactly what the backup step just wrote.
      expect(target.snapshot).toBe(result.backups.find((b) => b.job === target.job)?.snapshot);
    }
    expect(result.ok).toBe(true);
  });

  it("passes the stack drill: all six kinds in one isolated network, TasK's application boots against them", async () => {
    expect(result.stackDrillExitCode).toBe(0);
    const report = result.stackDrill;
    const stack = report?.stack;
    expect(report?.ok).toBe(true);
    expect(stack?.services.map((service) => service.service)).toEqual(
      result.included.map((item) => SERVICE_NAMES[item.kind]),
    );
    for (const service of stack?.services ?? []) {
      expect(service.ok, service.service).toBe(true);
      expect(service.timings.totalMs, service.service).toBeGreaterThan(0);
    }
    expect(stack?.smokeTest).toMatchObject({ ok: true, exitCode: 0, failedServices: [] });
    // The application checked every service, and every check of the stack passed.
    const smokeLines = (stack?.checks ?? []).filter((check) => check.name.startsWith("smoke: "));
    expect(smokeLines.map((check) => check.name.slice("smoke: ".length)).sort()).toEqual(
      result.included.map((item) => SERVICE_NAMES[item.kind]).sort(),
    );
    expect((stack?.checks ?? []).filter((check) => !check.ok)).toEqual([]);
    expect(stack?.rtoMs).toBeGreaterThan(0);
    expect(lines.join("\n")).toMatch(/drill stack: PASSED; stack RTO \d+\.\d s from the drill's start/);
    expect(lines.join("\n")).toMatch(/stack drill passed \(stack RTO \d+\.\d s\)$/m);
    const markdown = await readFile(result.stackReports?.markdown ?? "", "utf8");
    expect(markdown).toContain("## Stack: PASSED");
    for (const service of stack?.services ?? [])
      expect(markdown).toContain(`| ${service.service} | ${service.job} |`);
    const junit = await readFile(result.stackReports?.junit ?? "", "utf8");
    expect(junit).toContain('<testsuite name="stack.stack"');
    // Nothing of the stack is left: its network is gone too.
    const { stdout } = await execa("docker", [
      "network",
      "ls",
      "-q",
      "--filter",
      `label=${STACK_OWNER_LABEL}=${hostname()}:${process.pid}`,
    ]);
    expect(stdout.trim()).toBe("");
  });

  it("writes the JSON report in its documented shape", async () => {
    const file = result.reports?.json ?? "";
    expect(path.dirname(file)).toBe(out);
    const report = JSON.parse(await readFile(file, "utf8")) as Record<string, unknown>;
    expect(report).toMatchObject({ drill: "monthly", ok: true });
    expect(Date.parse(String(report.startedAt))).not.toBeNaN();
    expect(Date.parse(String(report.finishedAt))).toBeGreaterThanOrEqual(
      Date.parse(String(report.startedAt)),
    );
    const targets = report.targets as Array<Record<string, unknown>>;
    expect(targets).toHaveLength(result.included.length);
    for (const target of targets) {
      expect(typeof target.job).toBe("string");
      expect(typeof target.kind).toBe("string");
      expect(target.snapshot).toMatch(/^\d{8}T\d{6}Z-[0-9a-f]+$/);
      expect(target.ok).toBe(true);
      expect(typeof target.backupAgeSeconds).toBe("number");
      expect(typeof target.rtoSeconds).toBe("number");
      const timings = target.timings as Record<string, unknown>;
      for (const key of ["fetchMs", "restoreMs", "checksMs", "totalMs"]) {
        expect(typeof timings[key], `${String(target.job)} timings.${key}`).toBe("number");
      }
      const checks = target.checks as Array<Record<string, unknown>>;
      expect(checks.length).toBeGreaterThan(0);
      for (const check of checks) {
        expect(Object.keys(check).sort()).toEqual(["detail", "name", "ok"]);
        expect(typeof check.name).toBe("string");
        expect(typeof check.detail).toBe("string");
        expect(check.ok).toBe(true);
      }
    }
  });

  it("writes a Markdown report naming every target and its checks", async () => {
    const markdown = await readFile(result.reports?.markdown ?? "", "utf8");
    expect(markdown).toMatch(/^# Restore drill `monthly`: PASSED/);
    for (const target of result.drill?.targets ?? []) {
      expect(markdown).toContain(`## ${target.job} (${target.kind}): ok`);
      for (const check of target.checks) expect(markdown).toContain(check.name);
    }
  });

  it("writes JUnit XML that parses, one testsuite per target and one testcase per check", async () => {
    const root = parseXml(await readFile(result.reports?.junit ?? "", "utf8"));
    expect(root.name).toBe("testsuites");
    expect(root.attributes.failures).toBe("0");
    const suites = root.children.filter((child) => child.name === "testsuite");
    expect(suites.map((suite) => suite.attributes.name).sort()).toEqual(
      (result.drill?.targets ?? []).map((t) => `monthly.${t.job}`).sort(),
    );
    let cases = 0;
    for (const suite of suites) {
      const target = result.drill?.targets.find((t) => `monthly.${t.job}` === suite.attributes.name);
      const testcases = suite.children.filter((child) => child.name === "testcase");
      expect(testcases.map((c) => c.attributes.name)).toEqual(target?.checks.map((c) => c.name));
      expect(testcases.every((c) => c.children.every((x) => x.name !== "failure"))).toBe(true);
      cases += testcases.length;
    }
    expect(root.attributes.tests).toBe(String(cases));
  });

  it("writes the history page (report --html) next to the reports, 0600, one section per job", async () => {
    expect(result.reportExitCode).toBe(0);
    const file = result.reports?.html ?? "";
    expect(path.dirname(file)).toBe(out);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const html = await readFile(file, "utf8");
    expect(html).toContain('id="overall-status">OK');
    for (const item of result.included) expect(html).toContain(`>${item.job}</a>`);
    expect(lines.join("\n")).toContain(`${path.basename(file)}  (the history page`);
  });

  it("leaves no container and no temp dir behind", async () => {
    expect(result.cleanupFailures).toEqual([]);
    // Every release step did its job: the label sweep found nothing left to remove.
    expect(result.sweptContainers).toBe(0);
    // Drill containers (label backdrill.drill=true) of this process, and stack containers of this run.
    expect(await leftoverContainers(result.runId, result.sessionId)).toEqual([]);
    // Its temp dir (age identities, config, repository) is gone; checked by path, since another
    // run sharing this machine may own other backdrill-demo-* dirs right now.
    expect(result.tempDir).toBeDefined();
    await expect(stat(result.tempDir ?? "")).rejects.toThrow(/ENOENT/);
    // The reports survive the cleanup, private as backdrill wrote them.
    expect((await stat(result.reports?.json ?? "")).mode & 0o077).toBe(0);
  });
});

interface XmlElement {
  name: string;
  attributes: Record<string, string>;
  children: XmlElement[];
  text: string;
}

/**
 * A strict little XML parser, enough to prove the JUnit file is well-formed (one root, every tag
 * closed in order, attributes quoted, only the five predefined entities or character references)
 * and to read its structure. No XML library is a dependency, and this is all the test needs.
 */
function parseXml(xml: string): XmlElement {
  let at = 0;
  const fail = (what: string): never => {
    throw new Error(`invalid XML at offset ${at}: ${what}: ${JSON.stringify(xml.slice(at, at + 40))}`);
  };
  const decode = (text: string): string => {
    if (/&(?!(?:amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);)/.test(text)) fail("bare & or unknown entity");
    if (text.includes("<")) fail("< in text");
    return text
      .replace(/&#x([0-9a-fA-F]+);/g, (_, hex: string) => String.fromCodePoint(parseInt(hex, 16)))
      .replace(/&#(\d+);/g, (_, dec: string) => String.fromCodePoint(Number(dec)))
      .replace(/&lt;/g, "<")
      .replace(/&gt;/g, ">")
      .replace(/&quot;/g, '"')
      .replace(/&apos;/g, "'")
      .replace(/&amp;/g, "&");
  };
  const skipMisc = (): void => {
    for (;;) {
      const ws = /^\s*/.exec(xml.slice(at));
      at += ws?.[0].length ?? 0;
      if (xml.startsWith("<?", at)) {
        const end = xml.indexOf("?>", at);
        if (end < 0) fail("unterminated processing instruction");
        at = end + 2;
      } else if (xml.startsWith("<!--", at)) {
        const end = xml.indexOf("-->", at);
        if (end < 0) fail("unterminated comment");
        at = end + 3;
      } else {
        return;
      }
    }
  };
  const element = (): XmlElement => {
    const open = /^<([A-Za-z_][\w.-]*)/.exec(xml.slice(at));
    if (open === null) return fail("expected a start tag");
    const node: XmlElement = { name: open[1] ?? "", attributes: {}, children: [], text: "" };
    at += open[0].length;
    for (;;) {
      const attr = /^\s+([A-Za-z_][\w.:-]*)\s*=\s*("([^"<]*)"|'([^'<]*)')/.exec(xml.slice(at));
      if (attr === null) break;
      if (node.attributes[attr[1] ?? ""] !== undefined) fail(`duplicate attribute ${attr[1]}`);
      node.attributes[attr[1] ?? ""] = decode(attr[3] ?? attr[4] ?? "");
      at += attr[0].length;
    }
    const end = /^\s*(\/?)>/.exec(xml.slice(at));
    if (end === null) return fail(`malformed start tag <${node.name}>`);
    at += end[0].length;
    if (end[1] === "/") return node;
    for (;;) {
      if (xml.startsWith(`</${node.name}`, at)) {
        const close = new RegExp(`^</${node.name.replace(/[.]/g, "\\.")}\\s*>`).exec(xml.slice(at));
        if (close === null) fail(`malformed end tag of <${node.name}>`);
        at += close?.[0].length ?? 0;
        return node;
      }
      if (xml.startsWith("</", at)) fail(`end tag does not match <${node.name}>`);
      if (xml.startsWith("<!--", at)) {
        const stop = xml.indexOf("-->", at);
        if (stop < 0) fail("unterminated comment");
        at = stop + 3;
      } else if (xml.startsWith("<![CDATA[", at)) {
        const stop = xml.indexOf("]]>", at);
        if (stop < 0) fail("unterminated CDATA");
        node.text += xml.slice(at + 9, stop);
        at = stop + 3;
      } else if (xml.startsWith("<", at)) {
        node.children.push(element());
      } else {
        const stop = xml.indexOf("<", at);
        if (stop < 0) fail(`unterminated <${node.name}>`);
        node.text += decode(xml.slice(at, stop));
        at = stop;
      }
    }
  };
  skipMisc();
  const root = element();
  skipMisc();
  if (at !== xml.length) fail("content after the root element");
  return root;
}
