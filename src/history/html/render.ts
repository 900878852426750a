/**
 * History -> one self-contained HTML page: no request leaves it (a strict Content-Security-Policy
 * meta tag allows only the page's own inline script and style, by hash), so it works from file://
 * and as a mail attachment. The tables (RPO, last drill's checks, failures) are plain HTML and read
 * without JavaScript (most mail clients run none); the charts are drawn by the inlined uPlot from a
 * JSON data block.
 *
 * Pure: the same History and assets give the same bytes. Every value from the History is escaped
 * (escape.ts); the inlined library and script are checked not to be able to end their element.
 */
import { createHash } from "node:crypto";
import type { ChartAssets } from "./chart-assets.js";
import { CLIENT_SCRIPT } from "./client.js";
import { escapeHtml as esc, jsonForScript } from "./escape.js";
import { formatBytes, formatSeconds, formatTime } from "./format.js";
import { PAGE_CSS } from "./style.js";
import { summarizeHistory, summarizeJob, type JobSummary } from "../summary.js";
import type { History, JobHistory } from "../types.js";

type ChartKind = "restore" | "size" | "duration";

/** One chart's data as uPlot takes it: x (unix seconds) first, then one array per series. */
interface ChartData {
  id: string;
  kind: ChartKind;
  columns: Array<Array<number | null>>;
}

const unixSeconds = (iso: string): number => Math.round(Date.parse(iso) / 1000);
const tenth = (value: number): number => Math.round(value * 10) / 10;

function chartsOf(job: JobHistory, index: number): ChartData[] {
  const drills = job.drills;
  const snapshots = job.snapshots;
  return [
    {
      id: `chart-${index}-restore`,
      kind: "restore",
      columns: [
        drills.map((drill) => unixSeconds(drill.startedAt)),
        drills.map((drill) => tenth(drill.totalMs / 1000)),
        drills.map((drill) => (drill.ok ? null : tenth(drill.totalMs / 1000))),
        drills.map((drill) => drill.rtoSeconds),
      ],
    },
    {
      id: `chart-${index}-size`,
      kind: "size",
      columns: [snapshots.map((s) => unixSeconds(s.createdAt)), snapshots.map((s) => s.bytes)],
    },
    {
      id: `chart-${index}-duration`,
      kind: "duration",
      columns: [
        snapshots.map((s) => unixSeconds(s.createdAt)),
        snapshots.map((s) => tenth(Math.max(0, Date.parse(s.finishedAt) - Date.parse(s.createdAt)) / 1000)),
      ],
    },
  ];
}

function sha256(text: string): string {
  return `'sha256-${createHash("sha256").update(text, "utf8").digest("base64")}'`;
}

/** An inline script or style must not be able to close its element or open a comment in it. */
function assertInlineSafe(what: string, text: string, element: "script" | "style"): void {
  if (new RegExp(`</${element}|<!--`, "i").test(text)) {
    throw new Error(`${what} contains "</${element}" or "<!--" and cannot be inlined`);
  }
}

function verdict(ok: boolean, good: string, bad: string): string {
  return ok ? `<span class="ok-text">${good}</span>` : `<span class="bad-text">${bad}</span>`;
}

function rpoTile(job: JobHistory, summary: JobSummary): string {
  const rpo = formatSeconds(job.rpoSeconds);
  if (summary.newest === null || summary.ageSeconds === null) {
    return `<div class="tile"><h3>Newest snapshot vs RPO</h3><p class="big bad-text">none</p><p>RPO ${rpo}: ${verdict(false, "", "breached")}</p></div>`;
  }
  const margin = job.rpoSeconds - summary.ageSeconds;
  return (
    `<div class="tile"><h3>Newest snapshot vs RPO</h3>` +
    `<p class="big">${esc(formatSeconds(summary.ageSeconds))} old</p>` +
    `<p>RPO ${rpo}: ${verdict(summary.rpoOk, `within, ${esc(formatSeconds(margin))} left`, `breached by ${esc(formatSeconds(-margin))}`)}</p>` +
    `<p class="muted">${esc(summary.newest.id)}, ${esc(formatBytes(summary.newest.bytes))}</p></div>`
  );
}

function lastDrillTile(summary: JobSummary): string {
  const last = summary.lastDrill;
  if (last === null) {
    return `<div class="tile"><h3>Last drill</h3><p class="big">never</p><p class="muted">no drill report for this job</p></div>`;
  }
  const total = last.totalMs / 1000;
  const rto =
    last.rtoSeconds === null
      ? "no RTO set"
      : `RTO ${esc(formatSeconds(last.rtoSeconds))}: ${verdict(total <= last.rtoSeconds, "within", "over")}`;
  return (
    `<div class="tile"><h3>Last drill</h3>` +
    `<p class="big">${verdict(last.ok, "passed", "FAILED")}</p>` +
    `<p>${esc(formatSeconds(total))}, ${rto}</p>` +
    `<p class="muted">${esc(last.drill)}, ${esc(formatTime(last.startedAt))}</p></div>`
  );
}

function countsTile(job: JobHistory, summary: JobSummary): string {
  const newest = summary.newest;
  return (
    `<div class="tile"><h3>History</h3>` +
    `<p>${job.snapshots.length} snapshot${job.snapshots.length === 1 ? "" : "s"}${newest === null ? "" : `, first ${esc(formatTime(job.snapshots[0]?.createdAt ?? newest.createdAt))}`}</p>` +
    `<p>${job.drills.length} drill${job.drills.length === 1 ? "" : "s"}: ${summary.drillsPassed} passed, ${summary.drillsFailed === 0 ? "0 failed" : `<span class="bad-text">${summary.drillsFailed} failed</span>`}</p></div>`
  );
}

function chartFigure(chart: ChartData, caption: string, empty: string): string {
  const points = chart.columns[0]?.length ?? 0;
  const body =
    points === 0
      ? `<div class="empty">${empty}</div>`
      : `<div class="chart" id="${chart.id}" data-points="${points}"></div>`;
  return `<figure><figcaption>${caption}</figcaption>${body}</figure>`;
}

function checksTable(summary: JobSummary): string {
  const last = summary.lastDrill;
  if (last === null) return "";
  const heading = `<h3>Last drill's checks <span class="muted">(${esc(last.drill)}, ${esc(formatTime(last.startedAt))}${last.snapshot === null ? "" : `, snapshot ${esc(last.snapshot)}`})</span></h3>`;
  const rows = [
    ...(last.error === null
      ? []
      : [
          `<tr><td>restore</td><td>${verdict(false, "", "FAILED")}</td><td class="detail">${esc(last.error)}</td></tr>`,
        ]),
    ...last.checks.map(
      (check) =>
        `<tr><td>${esc(check.name)}</td><td>${verdict(check.ok, "ok", "FAILED")}</td><td class="detail">${esc(check.detail)}</td></tr>`,
    ),
  ];
  if (rows.length === 0) return `${heading}<p class="muted">no checks ran</p>`;
  return `${heading}<table class="data checks"><thead><tr><th>Check</th><th>Result</th><th>Detail</th></tr></thead><tbody>${rows.join("")}</tbody></table>`;
}

function failuresTable(summary: JobSummary): string {
  const heading = `<h3>Failures <span class="muted">(${summary.failures.length}, newest first)</span></h3>`;
  if (summary.failures.length === 0) return `${heading}<p class="muted">none recorded</p>`;
  const rows = summary.failures.map(
    (row) =>
      `<tr><td class="when">${esc(formatTime(row.at))}</td><td class="name">${esc(row.drill)}</td><td>${esc(row.check)}</td><td class="detail">${esc(row.detail)}</td></tr>`,
  );
  return `${heading}<div class="table-scroll"><table class="data failures"><thead><tr><th>When</th><th>Drill</th><th>Check</th><th>Detail</th></tr></thead><tbody>${rows.join("")}</tbody></table></div>`;
}

function jobSection(job: JobHistory, index: number, generatedAt: string, charts: ChartData[]): string {
  const summary = summarizeJob(job, generatedAt);
  const [restore, size, duration] = charts as [ChartData, ChartData, ChartData];
  const rtoNote = job.drills.some((drill) => drill.rtoSeconds !== null) ? " (dashed: RTO)" : " (no RTO set)";
  return [
    `<section class="job" id="job-${index}">`,
    `<h2>${esc(job.job)} <span class="kind">${esc(job.kind)}, policy ${esc(job.policy)}</span>`,
    ` <span class="badge ${summary.ok ? "ok" : "bad"}">${summary.ok ? "OK" : "ATTENTION"}</span></h2>`,
    summary.problems.length === 0
      ? ""
      : `<ul class="problems">${summary.problems.map((p) => `<li>${esc(p)}</li>`).join("")}</ul>`,
    `<div class="tiles">${rpoTile(job, summary)}${lastDrillTile(summary)}${countsTile(job, summary)}</div>`,
    `<div class="charts">`,
    chartFigure(restore, `Restore time vs RTO${rtoNote}`, "no drill yet"),
    chartFigure(size, "Backup size", "no snapshot yet"),
    chartFigure(duration, "Backup duration", "no snapshot yet"),
    `</div>`,
    checksTable(summary),
    failuresTable(summary),
    `</section>`,
  ].join("\n");
}

export function renderHistoryHtml(history: History, assets: ChartAssets): string {
  assertInlineSafe(`${assets.name} ${assets.version}`, assets.script, "script");
  assertInlineSafe("the page script", CLIENT_SCRIPT, "script");
  const css = `${assets.css}\n${PAGE_CSS}`;
  assertInlineSafe("the stylesheet", css, "style");

  const overall = summarizeHistory(history);
  const charts = history.jobs.map((job, index) => chartsOf(job, index));
  const data = jsonForScript({
    charts: charts.flat().filter((chart) => (chart.columns[0]?.length ?? 0) > 0),
  });
  // Inline <script type="application/json"> is data, not script: CSP does not apply to it.
  const csp = [
    "default-src 'none'",
    `script-src ${sha256(assets.script)} ${sha256(CLIENT_SCRIPT)}`,
    `style-src ${sha256(css)}`,
    "img-src 'none'",
    "connect-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
  ].join("; ");
  const status = overall.ok ? "OK" : "ATTENTION";

  return [
    "<!doctype html>",
    '<html lang="en">',
    "<head>",
    '<meta charset="utf-8">',
    // Constants and base64 hashes only: nothing in it to escape (and &#39; would only obscure it).
    `<meta http-equiv="Content-Security-Policy" content="${csp}">`,
    '<meta name="referrer" content="no-referrer">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<meta name="generator" content="backdrill ${esc(history.backdrillVersion)}">`,
    `<title>backdrill report: ${status}, ${esc(formatTime(history.generatedAt))}</title>`,
    `<style>${css}</style>`,
    "</head>",
    "<body>",
    "<header>",
    "<h1>Backups and restore drills</h1>",
    `<p><span class="status ${overall.ok ? "ok" : "bad"}" id="overall-status">${overall.ok ? "OK: every job within its RPO, every last drill passed" : `ATTENTION: ${overall.problems.length} problem${overall.problems.length === 1 ? "" : "s"}`}</span></p>`,
    overall.problems.length === 0
      ? ""
      : `<ul class="problems">${overall.problems.map((p) => `<li>${esc(p)}</li>`).join("")}</ul>`,
    '<dl class="meta">',
    `<dt>Generated</dt><dd>${esc(formatTime(history.generatedAt))} <span class="muted">(${esc(history.generatedAt)})</span></dd>`,
    `<dt>By</dt><dd>backdrill ${esc(history.backdrillVersion)}</dd>`,
    `<dt>Repositories</dt><dd>${history.repositories.map(esc).join("<br>") || "none"}</dd>`,
    `<dt>Jobs</dt><dd>${history.jobs.length}</dd>`,
    "</dl>",
    history.warnings.length === 0
      ? ""
      : `<p>Could not read:</p><ul class="warnings">${history.warnings.map((w) => `<li>${esc(w)}</li>`).join("")}</ul>`,
    '<noscript><p class="muted">The charts need JavaScript; every table below is complete without it.</p></noscript>',
    "</header>",
    `<nav>${history.jobs.map((job, index) => `<a href="#job-${index}">${esc(job.job)}</a>`).join("")}</nav>`,
    "<main>",
    ...history.jobs.map((job, index) => jobSection(job, index, history.generatedAt, charts[index] ?? [])),
    "</main>",
    `<footer>Times in UTC. Charts drawn by ${esc(assets.name)} ${esc(assets.version)} (${esc(assets.license)} licence), inlined into this file; the page loads nothing from anywhere.</footer>`,
    `<script type="application/json" id="history-data">${data}</script>`,
    `<script>${assets.script}</script>`,
    `<script>${CLIENT_SCRIPT}</script>`,
    "</body>",
    "</html>",
  ]
    .filter((line) => line !== "")
    .join("\n")
    .concat("\n");
}
