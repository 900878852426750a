import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { DrillResult, History, JobHistory } from "../types.js";
import { loadChartAssets, type ChartAssets } from "./chart-assets.js";
import { CLIENT_SCRIPT } from "./client.js";
import { escapeHtml, jsonForScript } from "./escape.js";
import { renderHistoryHtml } from "./render.js";

const NOW = Date.parse("2026-12-01T06:00:00Z");
const DAY = 86_400_000;
const HOSTILE = `</script><img src=x onerror="alert(1)"><!-- \u2028 & '"`;

function drill(i: number, count: number, ok: boolean, detail = "fine"): DrillResult {
  const totalMs = 600_000 + i * 1000;
  return {
    drill: "monthly",
    startedAt: new Date(NOW - (count - i) * DAY).toISOString(),
    ok,
    snapshot: `s${i}`,
    totalMs,
    rtoSeconds: 1800,
    timings: { fetchMs: 1, setupMs: 1, restoreMs: 1, checksMs: 1, totalMs },
    checks: [
      { name: "row counts", ok: true, detail: "42 tables match" },
      { name: "amcheck", ok, detail: ok ? "no corruption" : detail },
    ],
    error: null,
  };
}

function job(
  name: string,
  snapshots: number,
  drills: number,
  options: { ageHours?: number } = {},
): JobHistory {
  const age = (options.ageHours ?? 6) * 3600_000;
  return {
    job: name,
    kind: "postgres-dump",
    policy: "nightly",
    rpoSeconds: 26 * 3600,
    snapshots: Array.from({ length: snapshots }, (_, i) => {
      const created = NOW - age - (snapshots - 1 - i) * DAY;
      return {
        id: `snap-${i}`,
        createdAt: new Date(created).toISOString(),
        finishedAt: new Date(created + 300_000).toISOString(),
        bytes: 1_000_000 + i,
      };
    }),
    drills: Array.from({ length: drills }, (_, i) => drill(i, drills, i % 5 !== 2, `${HOSTILE} #${i}`)),
  };
}

function history(jobs: JobHistory[]): History {
  return {
    generatedAt: new Date(NOW).toISOString(),
    backdrillVersion: "9.9.9",
    repositories: ["/srv/repo", `s3://bucket/${HOSTILE}`],
    jobs,
    warnings: [`unreadable report ${HOSTILE}`],
  };
}

const assets = await loadChartAssets();

/** The text of every inline element of `tag`, in order. */
function inline(html: string, tag: "script" | "style"): string[] {
  return [...html.matchAll(new RegExp(`<${tag}[^>]*>([\\s\\S]*?)</${tag}>`, "g"))].map((m) => m[1] ?? "");
}

describe("escaping", () => {
  it("escapes the five HTML metacharacters", () => {
    expect(escapeHtml(`<a href="x" title='y'>&</a>`)).toBe(
      "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;",
    );
  });

  it("puts JSON in a script element that nothing can end, and parses back to the same value", () => {
    const value = { detail: HOSTILE, nested: ["</SCRIPT>", "<!--", "\u2029"] };
    const text = jsonForScript(value);
    expect(text).not.toMatch(/[<>&\u2028\u2029]/);
    expect(JSON.parse(text)).toEqual(value);
  });
});

describe("renderHistoryHtml", () => {
  const jobs = [job("task-db", 90, 30), job(`<b>evil</b>${HOSTILE}`, 5, 0, { ageHours: 30 })];
  const html = renderHistoryHtml(history(jobs), assets);

  it("lets no hostile value out as markup: one <img>-free page with exactly its own three scripts", () => {
    expect(html).not.toContain("<img");
    expect(html).not.toContain("<b>evil");
    expect(html.match(/<script/g)).toHaveLength(3);
    expect(html.match(/<\/script>/g)).toHaveLength(3);
    expect(html).toContain("&lt;/script&gt;&lt;img src=x onerror=&quot;alert(1)&quot;&gt;");
  });

  it("allows only its own inline script and style, by hash, and nothing from anywhere", () => {
    const csp = /<meta http-equiv="Content-Security-Policy" content="([^"]+)">/.exec(html)?.[1] ?? "";
    const hash = (text: string) => `'sha256-${createHash("sha256").update(text).digest("base64")}'`;
    const [data, library, client] = inline(html, "script");
    expect(library).toBe(assets.script);
    expect(client).toBe(CLIENT_SCRIPT);
    expect(csp).toContain(`script-src ${hash(library ?? "")} ${hash(client ?? "")};`);
    expect(csp).toContain(`style-src ${hash(inline(html, "style")[0] ?? "")};`);
    expect(csp).toMatch(/^default-src 'none';/);
    expect(csp).not.toMatch(/unsafe|https?:|\*/);
    // The data block is JSON, which CSP does not govern; it must parse.
    expect(JSON.parse(data ?? "")).toHaveProperty("charts");
    // The charset comes first, and the policy before any script or style.
    expect(html.indexOf('<meta charset="utf-8">')).toBeLessThan(html.indexOf("Content-Security-Policy"));
    expect(html.indexOf("Content-Security-Policy")).toBeLessThan(html.indexOf("<style>"));
  });

  it("hands the charts every point: drills with their RTO and failures, snapshots with size and duration", () => {
    const data = JSON.parse(inline(html, "script")[0] ?? "") as {
      charts: Array<{ id: string; kind: string; columns: Array<Array<number | null>> }>;
    };
    const byId = new Map(data.charts.map((chart) => [chart.id, chart]));
    const restore = byId.get("chart-0-restore")?.columns ?? [];
    expect(restore.map((column) => column.length)).toEqual([30, 30, 30, 30]);
    expect(restore[3]?.every((rto) => rto === 1800)).toBe(true);
    expect(restore[2]?.filter((value) => value !== null)).toHaveLength(6);
    expect(restore[1]?.[0]).toBe(600);
    expect(byId.get("chart-0-size")?.columns[1]).toHaveLength(90);
    expect(byId.get("chart-0-duration")?.columns[1]?.every((seconds) => seconds === 300)).toBe(true);
    // A job without drills gets no restore chart, and says so.
    expect(byId.has("chart-1-restore")).toBe(false);
    expect(html).toContain("no drill yet");
    expect(html).toContain('id="chart-0-restore" data-points="30"');
  });

  it("shows the RPO verdict, the last drill's checks and every failure, newest first", () => {
    expect(html).toContain('id="overall-status">ATTENTION: 1 problem');
    expect(html).toMatch(/<li>&lt;b&gt;evil&lt;\/b&gt;[^<]*: newest snapshot older than the RPO<\/li>/);
    expect(html).toContain("breached by 4 h");
    expect(html).toContain("within, 20 h left");
    const failures = html.match(/<table class="data failures">[\s\S]*?<\/table>/)?.[0] ?? "";
    const rows = [...failures.matchAll(/<tr><td class="when">([^<]+)<\/td>/g)].map((m) => m[1]);
    // Drills 2, 7, 12, 17, 22, 27 failed; drill i started (30 - i) days before NOW.
    expect(rows).toEqual(
      [27, 22, 17, 12, 7, 2].map(
        (i) => `${new Date(NOW - (30 - i) * DAY).toISOString().slice(0, 10)} 06:00 UTC`,
      ),
    );
    expect(failures).toContain("#27</td></tr>");
    const checks = html.match(/<table class="data checks">[\s\S]*?<\/table>/)?.[0] ?? "";
    expect(checks).toContain("<td>row counts</td>");
    expect(checks).toContain("<td>amcheck</td>");
  });

  it("says OK when every job is within its RPO and every last drill passed", () => {
    const good = job("task-db", 3, 2);
    good.drills = good.drills.map((result) => ({ ...result, ok: true, checks: [] }));
    const page = renderHistoryHtml({ ...history([good]), warnings: [] }, assets);
    expect(page).toContain('id="overall-status">OK: every job within its RPO');
    expect(page).toContain("<title>backdrill report: OK, 2026-12-01 06:00 UTC</title>");
    expect(page).not.toContain("Could not read");
  });

  it("is a pure function of its input", () => {
    expect(renderHistoryHtml(history(jobs), assets)).toBe(html);
  });

  it("refuses a library that could end its own script element", () => {
    const broken: ChartAssets = { ...assets, script: `var s = "</SCRIPT>";` };
    expect(() => renderHistoryHtml(history([]), broken)).toThrow(/cannot be inlined/);
  });
});
