/**
 * `backdrill report --html` opened in a real headless Chromium (Debian's `chromium`, driven by
 * playwright-core) from a file:// URL: the page must draw every point it was given, draw the RTO
 * line, list every failure, show hostile check details as text, log no error, and load nothing.
 * A full-page screenshot is left in test-artifacts/report-html.png for a person to look at.
 */
import { mkdir, mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { ensureHostTools } from "../support/host-tools.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createHistoryFixture,
  HOSTILE_DETAIL,
  RTO_SECONDS,
  type HistoryFixture,
} from "../support/history-fixture.js";
import { runCli } from "../support/run-cli.js";

const CHROMIUM = "/usr/bin/chromium";
const ARTIFACTS = resolve(import.meta.dirname, "../../test-artifacts");
const DRILLS = 30;
const SNAPSHOTS: [number, number] = [60, 30];

let fixture: HistoryFixture;
let profile: string;
let out: string;
let context: BrowserContext;
let page: Page;
const requests: string[] = [];
const consoleErrors: string[] = [];

/** What the page's chart objects hold (uPlot instances, read in the page). */
interface ChartView {
  points: number;
  series: Array<{ label: string; show: boolean; values: number }>;
  last: Array<number | null>;
  rto: Array<number | null>;
}

beforeAll(async () => {
  // Installed here as root on Debian/Ubuntu, else named with its package (host-tools.ts).
  await ensureHostTools(["chromium"]);
  fixture = await createHistoryFixture({ snapshots: SNAPSHOTS, drills: DRILLS });
  out = join(fixture.dir, "report.html");
  const written = await runCli(["report", "--html", out, "--config-dir", fixture.configDir]);
  expect(written.stderr).toBe("");
  expect(written.code).toBe(0);

  profile = await mkdtemp(join(tmpdir(), "backdrill-chromium-"));
  // launchPersistentContext: Playwright passes --user-data-dir itself (a fresh one here).
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 900 },
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  // Counted at the context, so requests of any frame or worker count too.
  context.on("request", (request) => requests.push(request.url()));
  page = await context.newPage();
  page.on("console", (message) => {
    if (message.type() === "error") consoleErrors.push(message.text());
  });
  page.on("pageerror", (error) => consoleErrors.push(error.message));
  await page.goto(pathToFileURL(out).href);
  // The page script marks <html data-charts=N> once it has drawn N charts.
  await page
    .waitForSelector('html[data-charts="6"]', { state: "attached", timeout: 10_000 })
    .catch((error) => {
      throw new Error(
        `the page did not draw its 6 charts (console: ${consoleErrors.join(" | ") || "nothing"}): ${String(error)}`,
      );
    });
}, 120_000);

afterAll(async () => {
  await context?.close();
  if (profile !== undefined) await rm(profile, { recursive: true, force: true });
  await fixture?.cleanup();
});

/** The page's index of a job's section (jobs appear in config order, as in the nav bar). */
async function indexOf(job: string): Promise<number> {
  const index = (await page.locator("nav a").allTextContents()).indexOf(job);
  expect(index, job).toBeGreaterThanOrEqual(0);
  return index;
}

async function charts(): Promise<Record<string, ChartView>> {
  return page.evaluate(() => {
    type Plot = { data: Array<Array<number | null>>; series: Array<{ label?: string; show?: boolean }> };
    const all = (globalThis as unknown as { backdrillCharts: Record<string, Plot> }).backdrillCharts;
    const views: Record<string, ChartView> = {};
    for (const [id, plot] of Object.entries(all)) {
      views[id] = {
        points: plot.data[0]?.length ?? 0,
        series: plot.series.map((series, index) => ({
          label: String(series.label),
          show: series.show === true,
          values: (plot.data[index] ?? []).filter((value) => value !== null).length,
        })),
        last: plot.data.map((column) => column.at(-1) ?? null),
        rto: plot.data[plot.series.findIndex((series) => series.label === "RTO")] ?? [],
      };
    }
    return views;
  });
}

describe("backdrill report --html in Chromium", () => {
  it("renders from file:// without a single request beyond the file itself, and without console errors", () => {
    expect(requests).toEqual([pathToFileURL(out).href]);
    expect(consoleErrors).toEqual([]);
  });

  it("draws every drill and every snapshot it was given, per job", async () => {
    const views = await charts();
    expect(Object.keys(views).sort()).toEqual(
      ["0-duration", "0-restore", "0-size", "1-duration", "1-restore", "1-size"].map((s) => `chart-${s}`),
    );
    for (const job of fixture.jobs) {
      const index = await indexOf(job.job);
      expect(views[`chart-${index}-restore`]?.points, job.job).toBe(DRILLS);
      expect(views[`chart-${index}-size`]?.points, job.job).toBe(job.snapshots.length);
      expect(views[`chart-${index}-duration`]?.points, job.job).toBe(job.snapshots.length);
      // The newest values are the fixture's newest: the charts show the data, not just its count.
      const newest = job.snapshots.at(-1);
      expect(views[`chart-${index}-size`]?.last[1]).toBe(newest?.bytes);
      expect(views[`chart-${index}-restore`]?.last[1]).toBe(
        Math.round((job.drills.at(-1)?.totalMs ?? 0) / 100) / 10,
      );
      // Failed drills are marked: one red point per failed drill.
      const failed = views[`chart-${index}-restore`]?.series.find((s) => s.label === "failed drill");
      expect(failed?.values).toBe(job.drills.filter((drill) => !drill.ok).length);
    }
    expect(SNAPSHOTS[0] + SNAPSHOTS[1]).toBe(90);
  });

  it("draws the RTO as a line over every drill", async () => {
    const views = await charts();
    for (const index of [0, 1]) {
      const restore = views[`chart-${index}-restore`];
      const rto = restore?.series.find((series) => series.label === "RTO");
      expect(rto).toMatchObject({ show: true, values: DRILLS });
      expect(new Set(restore?.rto)).toEqual(new Set([RTO_SECONDS]));
    }
    expect(await page.locator("#job-0 figcaption").first().innerText()).toBe(
      "Restore time vs RTO (dashed: RTO)",
    );
  });

  it("lists every failure, newest first, with when, check and detail", async () => {
    for (const job of fixture.jobs) {
      const index = await indexOf(job.job);
      const expected = fixture.failures[job.job] ?? [];
      expect(expected.length, job.job).toBeGreaterThan(0);
      const rows = page.locator(`#job-${index} table.failures tbody tr`);
      expect(await rows.count(), job.job).toBe(expected.length);
      const cells = await rows.evaluateAll((trs) =>
        trs.map((tr) =>
          Array.from((tr as unknown as { cells: ArrayLike<{ textContent: string | null }> }).cells, (cell) =>
            String(cell.textContent),
          ),
        ),
      );
      expect(cells).toEqual(
        expected.map((row) => [
          `${row.at.slice(0, 16).replace("T", " ")} UTC`,
          "nightly-restore",
          row.check,
          row.detail,
        ]),
      );
    }
  });

  it("shows a hostile </script><img onerror> detail as text: no element, no script ran", async () => {
    const taskDb = await indexOf("task-db");
    const details = await page.locator(`#job-${taskDb} table.failures td.detail`).allTextContents();
    expect(details.length).toBeGreaterThan(0);
    for (const detail of details) expect(detail).toBe(`over the RTO: ${HOSTILE_DETAIL}`);
    expect(await page.locator("img").count()).toBe(0);
    expect(await page.locator("b").count()).toBe(0);
    expect(await page.evaluate(() => (globalThis as { __pwned?: unknown }).__pwned)).toBeUndefined();
    // Three scripts: the data block, uPlot, the page's own; an injected one would make four.
    expect(await page.locator("script").count()).toBe(3);
  });

  it("says where the data came from and what needs attention", async () => {
    const header = await page.locator("header").innerText();
    expect(header).toContain(fixture.repoDir);
    expect(header).toMatch(/backdrill \d+\.\d+\.\d+/);
    // mq's newest snapshot is 3 days old against a 26 h RPO.
    await expect(page.locator("#overall-status").innerText()).resolves.toMatch(/^ATTENTION/);
    expect(header).toContain("mq: newest snapshot older than the RPO");
    const mq = await indexOf("mq");
    await expect(page.locator(`#job-${mq} .tiles`).innerText()).resolves.toMatch(/breached by/);
    await expect(page.locator(`#job-${mq} .badge`).innerText()).resolves.toBe("ATTENTION");
  });

  it("blocks anything external through its Content-Security-Policy", async () => {
    const outcome = await page.evaluate(async () => {
      const violations: string[] = [];
      const target = globalThis as unknown as {
        addEventListener(type: string, listener: (event: { violatedDirective: string }) => void): void;
      };
      target.addEventListener("securitypolicyviolation", (event) => violations.push(event.violatedDirective));
      let fetched: string;
      try {
        await fetch("http://127.0.0.1:9/never");
        fetched = "loaded";
      } catch {
        fetched = "blocked";
      }
      // Let the violation event arrive.
      await new Promise((resolve) => setTimeout(resolve, 100));
      return { fetched, violations };
    });
    expect(outcome).toEqual({ fetched: "blocked", violations: ["connect-src"] });
  });

  it("leaves a screenshot for a person to look at", async () => {
    await mkdir(ARTIFACTS, { recursive: true });
    const file = join(ARTIFACTS, "report-html.png");
    await page.screenshot({ path: file, fullPage: true });
    expect((await stat(file)).size).toBeGreaterThan(50_000);
  });

  it("counts requests at all (the counter itself works)", async () => {
    const control = await context.newPage();
    try {
      const before = requests.length;
      await control.setContent('<img src="http://127.0.0.1:9/control.png">');
      await control.waitForTimeout(200);
      expect(requests.slice(before)).toContain("http://127.0.0.1:9/control.png");
    } finally {
      await control.close();
    }
  });
});
