/**
 * The README's quick start on a fresh Debian host (issue 16): a container from the project's
 * debootstrapped trixie with only Debian's nodejs and npm (docker/quickstart-node), the Docker
 * engine through its socket, a clean copy of the repository at HEAD (git archive: no
 * node_modules, no build output), and the quick-start line read from that copy's README.md and
 * run exactly as written. As root it must install what it needs itself (docker CLI, rsync,
 * openssh-client) and pass; as a user who is not root, on a host where the images are not built
 * yet and debootstrap is missing, it must stop with the one line naming debootstrap's package.
 *
 * The root run is also the demo's end-to-end test (there is no second demo run in `npm test`):
 * every registered job kind staged, backed up and drilled, the reports it leaves in ./demo-reports
 * in the shapes the README documents (JSON for tools, Markdown for people, JUnit XML for CI, the
 * history page), the stack drill of all six kinds, and nothing left behind (containers, the stack
 * network, the temp dir).
 *
 * Sharing: `--network host` and `-v /tmp:/tmp`, so the ports the demo publishes on 127.0.0.1 and
 * the directories it bind-mounts from /tmp mean the same inside and out; `--pid host`, so the
 * image-build lock in /tmp (which names its owner by pid) is understood on both sides. The
 * demo's stack containers carry this test run's label (BACKDRILL_TEST_RUN_ID), so the global
 * teardown fails the run if any is left; "images not built yet" is a fresh image-name prefix
 * (BACKDRILL_TEST_IMAGE_PREFIX), never a deleted shared image.
 */
import { randomBytes } from "node:crypto";
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat } from "node:fs/promises";
import path from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SERVICE_NAMES, STACK_DRILL } from "../../scripts/demo/config.js";
import { STACK_OWNER_LABEL } from "../../src/docker/stack-network.js";
import { JOB_KINDS } from "../../src/kinds/registry.js";
import { readDemoReports, type DemoReports } from "../support/demo-reports.js";
import { testLabels, TEST_RUN_ENV } from "../support/docker.js";
import { builtName, IMAGE_PREFIX_ENV } from "../support/images.js";
import { prepareImageOnBase, REPO_ROOT } from "../support/test-env.js";
import { parseXml } from "../support/xml.js";

/** The fresh host: base + Debian's nodejs and npm (built once, kept like the other test images). */
const NODE_HOST_IMAGE = builtName("backdrill-test/quickstart-node:trixie");
const NODE_HOST_CONTEXT = "docker/quickstart-node";
const SOCKET = "/var/run/docker.sock";
/** A user who is not root, with the socket's group so that it reaches the engine. */
const USER_ID = 4711;
const DEMO_TIMEOUT_MS = 12 * 60_000;
const NPM_CACHE = "/tmp/backdrill-quickstart-npm-cache";

interface Run {
  code: number;
  output: string;
}

let work = "";
let repo = "";
let container = "";
let quickStart = "";
let asRoot: Run;
let asUser: Run;
let reports: DemoReports;
/** What the root run left: new /tmp/backdrill-demo-* dirs and stack networks (before/after sets). */
let leftTempDirs: string[] = [];
let leftNetworks: string[] = [];
const prefix = `backdrill-quickstart-${randomBytes(4).toString("hex")}/`;

/** The quick-start line of README.md: the first line of its first sh block that runs the demo. */
function quickStartLine(readme: string): string {
  const section = readme.split(/^## /m).find((part) => part.startsWith("Quick start\n"));
  if (section === undefined) throw new Error("README.md has no '## Quick start' section");
  const block = /```sh\n([\s\S]*?)```/.exec(section)?.[1];
  const line = block?.split("\n").find((text) => /\bnpm run demo\b/.test(text));
  if (line === undefined) throw new Error("README.md's quick start has no sh line running `npm run demo`");
  return line;
}

async function docker(args: readonly string[], timeoutMs = 60_000): Promise<Run> {
  const result = await execa("docker", args, { reject: false, all: true, timeout: timeoutMs });
  return { code: result.exitCode ?? -1, output: result.all ?? "" };
}

/** Runs a shell command line in the container (bash, as a user's terminal would). */
async function inContainer(
  line: string,
  options: { user?: string; env?: Record<string, string> } = {},
): Promise<Run> {
  const env = Object.entries(options.env ?? {}).flatMap(([name, value]) => ["-e", `${name}=${value}`]);
  const user = options.user === undefined ? [] : ["-u", options.user];
  return docker(["exec", ...user, ...env, "-w", repo, container, "bash", "-c", line], DEMO_TIMEOUT_MS);
}

/** The demo's temp dirs (/tmp is shared with the container). */
async function demoTempDirs(): Promise<Set<string>> {
  return new Set((await readdir("/tmp")).filter((name) => name.startsWith("backdrill-demo-")));
}

async function stackNetworks(): Promise<Set<string>> {
  const listed = await docker(["network", "ls", "-q", "--filter", `label=${STACK_OWNER_LABEL}`]);
  return new Set(listed.output.split("\n").filter((id) => id.trim() !== ""));
}

async function must(what: string, run: Promise<Run>): Promise<string> {
  const result = await run;
  if (result.code !== 0) throw new Error(`${what} failed (exit ${result.code}):\n${result.output}`);
  return result.output.trim();
}

beforeAll(
  async () => {
    await prepareImageOnBase(NODE_HOST_IMAGE, NODE_HOST_CONTEXT, { log: (line) => console.log(line) });

    // Under /tmp itself, whatever TMPDIR says: /tmp is what the container shares.
    work = await mkdtemp("/tmp/backdrill-quickstart-");
    // The user who is not root runs the same copy (a repository holds nothing secret).
    await chmod(work, 0o755);
    repo = path.join(work, "repo");
    await mkdir(repo);
    await must(
      "git archive HEAD",
      execa(
        "bash",
        [
          "-o",
          "pipefail",
          "-c",
          'git -C "$1" archive --format=tar HEAD | tar -x -C "$2"',
          "x",
          REPO_ROOT,
          repo,
        ],
        {
          reject: false,
          all: true,
        },
      ).then((r) => ({ code: r.exitCode ?? -1, output: r.all ?? "" })),
    );
    quickStart = quickStartLine(await readFile(path.join(repo, "README.md"), "utf8"));

    const socketGroup = (await stat(SOCKET)).gid;
    // The host's extra TLS roots (a network whose egress re-signs TLS): npm in the container must
    // trust what npm here trusts, or `npm ci` fails on the registry's certificate. Nothing else
    // of the host's setup goes in.
    const hostCa = process.env.NODE_EXTRA_CA_CERTS;
    const trust =
      hostCa !== undefined && hostCa !== "" && (await stat(hostCa).catch(() => undefined))?.isFile() === true
        ? [
            "-v",
            `${hostCa}:/etc/backdrill-host-ca.crt:ro`,
            "-e",
            "NODE_EXTRA_CA_CERTS=/etc/backdrill-host-ca.crt",
          ]
        : [];
    const labels = Object.entries(testLabels()).flatMap(([key, value]) => ["--label", `${key}=${value}`]);
    container = await must(
      "docker run",
      docker([
        "run",
        "-d",
        "--rm",
        ...labels,
        "--network",
        "host",
        "--pid",
        "host",
        "-v",
        `${SOCKET}:${SOCKET}`,
        "-v",
        "/tmp:/tmp",
        ...trust,
        NODE_HOST_IMAGE,
        "sleep",
        "infinity",
      ]),
    );
    await must(
      "creating the user",
      docker([
        "exec",
        container,
        "bash",
        "-c",
        `groupadd -o -g ${socketGroup} hostdocker && useradd -m -u ${USER_ID} -g ${socketGroup} quickstart`,
      ]),
    );

    // The stack's containers carry this test run's label: a leak fails the run (global teardown).
    const runEnv = { [TEST_RUN_ENV]: process.env[TEST_RUN_ENV] ?? "" };
    const tempBefore = await demoTempDirs();
    const networksBefore = await stackNetworks();
    const started = Date.now();
    // npm's download cache is kept between runs (only tarballs checked by their integrity hash;
    // npm ci still installs everything afresh): it halves npm ci on a machine that ran this before.
    asRoot = await inContainer(quickStart, { env: { ...runEnv, npm_config_cache: NPM_CACHE } });
    console.log(
      `quick start as root: exit ${asRoot.code} in ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
    // Printed whole, pass or fail: what a new user would have seen is the best CI log.
    console.log(`$ ${quickStart}\n${asRoot.output}`);
    leftTempDirs = [...(await demoTempDirs())].filter((name) => !tempBefore.has(name));
    leftNetworks = [...(await stackNetworks())].filter((id) => !networksBefore.has(id));
    if (asRoot.code === 0)
      reports = await readDemoReports(path.join(repo, "demo-reports"), "monthly", STACK_DRILL);

    // The second half of the line as a user who is not root, images "not built yet".
    asUser = await inContainer("npm run demo", {
      user: "quickstart",
      env: { ...runEnv, [IMAGE_PREFIX_ENV]: prefix },
    });
    console.log(`$ npm run demo   (as ${USER_ID}, ${IMAGE_PREFIX_ENV}=${prefix})\n${asUser.output}`);
  },
  // First run on a machine: building the Node host image alone takes ~7 minutes on 2 cores.
  40 * 60_000,
);

afterAll(async () => {
  if (container !== "") await docker(["rm", "-f", container]);
  if (work !== "") await rm(work, { recursive: true, force: true });
});

describe("README quick start on a fresh Debian host with only nodejs and npm", () => {
  it("finds the line in README.md", () => {
    expect(quickStart).toMatch(/^npm ci && npm run demo\b/);
  });

  it("as root: installs the host tools it needs, and the demo passes with its summary", () => {
    expect(asRoot.code).toBe(0);
    expect(asRoot.output).toMatch(
      /^demo: PASSED in [\d.]+ s: (\d+)\/\1 backups, drill passed, stack drill passed \(stack RTO [\d.]+ s\)$/m,
    );
    expect(asRoot.output).toMatch(/^Reports \(copied out of the temp dir\):$/m);
    // Nothing was there but nodejs and npm: the demo itself installed the tools.
    expect(asRoot.output).toMatch(/host-tools: installing .*\brsync\b.* \(apt-get\)/);
    expect(asRoot.output).toMatch(/host-tools: installing .*\bopenssh-client\b/);
    expect(asRoot.output).toMatch(/host-tools: installing .*\bdocker(-cli|\.io)\b/);
    expect(asRoot.output).not.toMatch(/exit undefined|failed to start\b(?!:)/);
  });

  it("as root: staged, backed up and drilled every registered job kind, and left nothing behind", () => {
    expect(asRoot.code).toBe(0);
    expect(asRoot.output).toMatch(
      new RegExp(`^demo: PASSED in [\\d.]+ s: ${JOB_KINDS.length}/${JOB_KINDS.length} backups, `, "m"),
    );
    expect(asRoot.output).not.toMatch(/^demo: skipped /m);
    const targets = reports.drill.report.targets;
    expect(targets.map((target) => target.kind).sort()).toEqual([...JOB_KINDS].sort());
    // Every release step did its job: no label sweep, no failed cleanup, no temp dir, no network.
    expect(asRoot.output).not.toMatch(/^demo: (removed \d+ leftover container|cleanup step failed)/m);
    expect(leftTempDirs).toEqual([]);
    expect(leftNetworks).toEqual([]);
  });

  it("as root: the drill's JSON report in its documented shape, private", async () => {
    const report = reports.drill.report;
    expect(report).toMatchObject({ drill: "monthly", ok: true });
    // Private as backdrill wrote it (copied out of the temp dir with its mode).
    expect((await stat(reports.drill.json)).mode & 0o077).toBe(0);
    expect(Date.parse(report.finishedAt)).toBeGreaterThanOrEqual(Date.parse(report.startedAt));
    for (const target of report.targets) {
      expect(target.snapshot).toMatch(/^\d{8}T\d{6}Z-[0-9a-f]+$/);
      expect(target.ok, target.job).toBe(true);
      expect(typeof target.backupAgeSeconds).toBe("number");
      expect(typeof target.rtoSeconds).toBe("number");
      const timings = target.timings as unknown as Record<string, unknown>;
      for (const key of ["fetchMs", "restoreMs", "checksMs", "totalMs"])
        expect(typeof timings[key], `${target.job} timings.${key}`).toBe("number");
      expect(target.checks.length).toBeGreaterThan(0);
      for (const check of target.checks) {
        expect(Object.keys(check).sort()).toEqual(["detail", "name", "ok"]);
        expect(check.ok, `${target.job}: ${check.name}`).toBe(true);
      }
    }
  });

  it("as root: the Markdown report names every target and check; the JUnit XML parses, a suite per target", async () => {
    const report = reports.drill.report;
    const markdown = await readFile(reports.drill.markdown, "utf8");
    expect(markdown).toMatch(/^# Restore drill `monthly`: PASSED/);
    for (const target of report.targets) {
      expect(markdown).toContain(`## ${target.job} (${target.kind}): ok`);
      for (const check of target.checks) expect(markdown).toContain(check.name);
    }
    const root = parseXml(await readFile(reports.drill.junit, "utf8"));
    expect(root.name).toBe("testsuites");
    expect(root.attributes.failures).toBe("0");
    const suites = root.children.filter((child) => child.name === "testsuite");
    expect(suites.map((suite) => suite.attributes.name).sort()).toEqual(
      report.targets.map((t) => `monthly.${t.job}`).sort(),
    );
    let cases = 0;
    for (const suite of suites) {
      const target = report.targets.find((t) => `monthly.${t.job}` === suite.attributes.name);
      const testcases = suite.children.filter((child) => child.name === "testcase");
      expect(testcases.map((c) => c.attributes.name)).toEqual(target?.checks.map((c) => c.name));
      expect(testcases.every((c) => c.children.every((x) => x.name !== "failure"))).toBe(true);
      cases += testcases.length;
    }
    expect(root.attributes.tests).toBe(String(cases));
  });

  it("as root: the stack drill of all six kinds passed, TasK's application checked every service", async () => {
    const report = reports.stack.report;
    const stack = report.stack;
    expect(report.ok).toBe(true);
    expect(stack?.services.map((service) => service.service).sort()).toEqual(
      JOB_KINDS.map((kind) => SERVICE_NAMES[kind]).sort(),
    );
    for (const service of stack?.services ?? []) {
      expect(service.ok, service.service).toBe(true);
      expect(service.timings.totalMs, service.service).toBeGreaterThan(0);
    }
    expect(stack?.smokeTest).toMatchObject({ ok: true, exitCode: 0, failedServices: [] });
    const smokeLines = (stack?.checks ?? []).filter((check) => check.name.startsWith("smoke: "));
    expect(smokeLines.map((check) => check.name.slice("smoke: ".length)).sort()).toEqual(
      JOB_KINDS.map((kind) => SERVICE_NAMES[kind]).sort(),
    );
    expect((stack?.checks ?? []).filter((check) => !check.ok)).toEqual([]);
    expect(stack?.rtoMs).toBeGreaterThan(0);
    expect(asRoot.output).toMatch(/drill stack: PASSED; stack RTO \d+\.\d s from the drill's start/);
    expect(await readFile(reports.stack.markdown, "utf8")).toContain("## Stack: PASSED");
    expect(await readFile(reports.stack.junit, "utf8")).toContain(`<testsuite name="${STACK_DRILL}.stack"`);
  });

  it("as root: the history page next to the reports, 0600, one section per job", async () => {
    expect((await stat(reports.html)).mode & 0o777).toBe(0o600);
    const html = await readFile(reports.html, "utf8");
    expect(html).toContain('id="overall-status">OK');
    for (const target of reports.drill.report.targets) expect(html).toContain(`>${target.job}</a>`);
    expect(asRoot.output).toContain("backdrill-report.html  (the history page");
  });

  it("as a user who is not root, with debootstrap missing: one line naming it and its package", async () => {
    expect(asUser.code).not.toBe(0);
    const lines = asUser.output.split("\n").filter((line) => /debootstrap/.test(line));
    expect(lines).toEqual([
      "demo: debootstrap not found: install the Debian package debootstrap (apt-get install debootstrap) " +
        "(not root, so not installed automatically)",
    ]);
    expect(asUser.output).toMatch(
      /^demo: FAILED in [\d.]+ s: 0\/\d+ backups, drill not run, stack drill not run$/m,
    );
    // It stopped before building anything under the fresh prefix.
    const images = await must("docker images", docker(["images", "-q", "--filter", `reference=${prefix}*`]));
    expect(images).toBe("");
  });
});
