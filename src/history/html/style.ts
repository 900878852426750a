/** The page's stylesheet (after uPlot's own). System fonts only: nothing may load from outside. */
export const PAGE_CSS = `
:root { --ok: #1b7f3b; --bad: #c62828; --warn: #a15c00; --muted: #5f6b7a; --line: #d8dde3; --bg: #f6f7f9; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: #1d232b; background: var(--bg); }
header, main, footer, nav { max-width: 1180px; margin: 0 auto; padding: 0 20px; }
header { padding-top: 20px; }
h1 { font-size: 24px; margin: 0 0 8px; }
h2 { font-size: 20px; margin: 0 0 12px; display: flex; flex-wrap: wrap; gap: 10px; align-items: baseline; }
h3 { font-size: 15px; margin: 18px 0 6px; }
.status { display: inline-block; font-weight: 700; padding: 4px 12px; border-radius: 4px; color: #fff; }
.status.ok { background: var(--ok); }
.status.bad { background: var(--bad); }
.meta { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; margin: 12px 0; }
.meta dt { color: var(--muted); }
.meta dd { margin: 0; overflow-wrap: anywhere; }
.problems { color: var(--bad); margin: 6px 0; padding-left: 20px; }
.warnings { color: var(--warn); margin: 6px 0; padding-left: 20px; }
nav { margin: 8px auto 4px; }
nav a { margin-right: 14px; white-space: nowrap; }
.job { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 16px 18px; margin: 16px 0; }
.kind { color: var(--muted); font-size: 14px; font-weight: 400; }
.badge { font-size: 13px; font-weight: 700; padding: 2px 8px; border-radius: 3px; color: #fff; }
.badge.ok { background: var(--ok); }
.badge.bad { background: var(--bad); }
.tiles { display: grid; grid-template-columns: repeat(auto-fit, minmax(220px, 1fr)); gap: 10px; }
.tile { border: 1px solid var(--line); border-radius: 4px; padding: 8px 12px; }
.tile h3 { margin: 0 0 2px; font-size: 13px; color: var(--muted); font-weight: 600; }
.tile .big { font-size: 20px; font-weight: 700; margin: 0; }
.tile p { margin: 0; }
.ok-text { color: var(--ok); font-weight: 600; }
.bad-text { color: var(--bad); font-weight: 600; }
.muted { color: var(--muted); font-size: 13px; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(340px, 1fr)); gap: 12px; margin-top: 12px; }
figure { margin: 0; min-width: 0; }
figcaption { font-weight: 600; margin-bottom: 4px; }
.chart { min-height: 40px; overflow: hidden; }
.empty { color: var(--muted); font-style: italic; padding: 20px 0; }
table.data { border-collapse: collapse; width: 100%; font-size: 14px; }
.data th, .data td { text-align: left; vertical-align: top; padding: 4px 8px; border-bottom: 1px solid var(--line); }
.data th { background: var(--bg); font-weight: 600; }
td.detail { white-space: pre-wrap; overflow-wrap: anywhere; font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 13px; }
td.when, td.name { white-space: nowrap; }
.table-scroll { max-height: 420px; overflow: auto; border: 1px solid var(--line); }
.table-scroll th { position: sticky; top: 0; }
footer { color: var(--muted); font-size: 13px; padding-bottom: 24px; }
.uplot { font-family: inherit; }
.u-legend { font-size: 12px; }
.u-legend th { font-weight: 600; }
@media print { .table-scroll { max-height: none; overflow: visible; } .job { break-inside: avoid-page; } }
`;
