/**
 * The page's own script: draws the charts from the inline JSON block with uPlot. Plain ES2017 in a
 * string (not a compiled function's toString(): tsx and esbuild may inject helpers into it), no
 * backslashes or template substitutions, and no `<`: it must not be able to end its own element.
 *
 * Chart instances are kept in `window.backdrillCharts` by element id, for the browser test and for
 * anyone inspecting the page. Times on the x axes are UTC, like the tables.
 */
export const CLIENT_SCRIPT = `(function () {
  "use strict";
  var COLORS = { line: "#1f5fa8", fill: "rgba(31,95,168,0.10)", failed: "#c62828", rto: "#e07b00", grid: "#e3e6ea" };
  var HEIGHT = 220;
  var data = JSON.parse(document.getElementById("history-data").textContent);
  var charts = {};
  window.backdrillCharts = charts;

  function utc(ts) { return uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"); }
  function seconds(v) {
    if (v === null || v === undefined) return "-";
    var s = Math.abs(v);
    if (s >= 172800) return (v / 86400).toFixed(1) + " d";
    if (s >= 7200) return (v / 3600).toFixed(1) + " h";
    if (s >= 120) return Math.round(v / 60) + " min";
    return (s >= 10 ? Math.round(v) : v.toFixed(1)) + " s";
  }
  function bytes(v) {
    if (v === null || v === undefined) return "-";
    var i = 0;
    while (Math.abs(v) >= 1024 && i + 1 !== BYTE_UNITS.length) { v = v / 1024; i += 1; }
    return (i === 0 ? String(Math.round(v)) : v.toFixed(1)) + " " + BYTE_UNITS[i];
  }
  var BYTE_UNITS = ["B", "KiB", "MiB", "GiB", "TiB"];
  var TIME_UNITS = [[1, "s"], [60, "min"], [3600, "h"], [86400, "d"]];
  // Tick steps that are round in the unit they are shown in: 15 min, 2 h, 200 MiB.
  function steps(bases) {
    var out = [];
    bases.forEach(function (base) {
      base[1].forEach(function (m) { out.push(base[0] * m); });
    });
    return out;
  }
  var CLOCK = [1, 2, 5, 10, 15, 20, 30];
  var TIME_STEPS = steps([[1, CLOCK], [60, CLOCK], [3600, [1, 2, 3, 6, 12]], [86400, [1, 2, 5, 7, 14, 30, 60, 90, 180, 365]]]);
  var DECIMAL = [1, 2, 5, 10, 20, 50, 100, 200, 500];
  var BYTE_STEPS = steps([[1, DECIMAL], [1024, DECIMAL], [1048576, DECIMAL], [1073741824, DECIMAL], [1099511627776, DECIMAL]]);
  // Every tick of an axis in one unit, chosen by the largest tick.
  function axisLabels(units) {
    return function (u, splits) {
      var top = Math.max.apply(null, splits.map(Math.abs));
      var unit = units[0];
      units.forEach(function (candidate) { if (top >= candidate[0] * 2) unit = candidate; });
      return splits.map(function (v) {
        var n = v / unit[0];
        return (Math.round(n) === n ? String(n) : n.toFixed(1)) + " " + unit[1];
      });
    };
  }
  var BYTE_AXIS = BYTE_UNITS.map(function (name, i) { return [Math.pow(1024, i), name]; });
  // ISO-like dates on the time axis (not uPlot's US 9/13); the first tick carries the year on a
  // second line, as uPlot's own formats do (a newline made without a backslash, see above).
  var NL = String.fromCharCode(10);
  var DATE_FORMATS = {
    month: uPlot.fmtDate("{YYYY}-{MM}"),
    day: uPlot.fmtDate("{MM}-{DD}"),
    dayWithYear: uPlot.fmtDate("{MM}-{DD}" + NL + "{YYYY}"),
    time: uPlot.fmtDate("{MM}-{DD} {HH}:{mm}")
  };
  function dateTicks(u, splits, axis, space, incr) {
    return splits.map(function (ts, i) {
      var at = utc(ts);
      if (incr >= 86400 * 28) return DATE_FORMATS.month(at);
      if (incr >= 86400) return (i === 0 ? DATE_FORMATS.dayWithYear : DATE_FORMATS.day)(at);
      return DATE_FORMATS.time(at);
    });
  }
  function legend(format) { return function (u, v) { return format(v); }; }
  function fromZero(u, min, max) { return [0, max > 0 ? max * 1.1 : 1]; }
  function padSingle(u, min, max) { return min === max ? [min - 43200, max + 43200] : [min, max]; }
  function noLine() { return null; }

  var SERIES = {
    restore: [
      { label: "restore + checks", stroke: COLORS.line, width: 2, value: legend(seconds), points: { size: 5 } },
      { label: "failed drill", stroke: COLORS.failed, fill: COLORS.failed, paths: noLine, value: legend(seconds),
        points: { show: true, size: 10, stroke: COLORS.failed, fill: COLORS.failed } },
      { label: "RTO", stroke: COLORS.rto, width: 2, dash: [8, 5], value: legend(seconds), points: { show: false },
        paths: uPlot.paths.stepped({ align: 1 }) }
    ],
    size: [{ label: "backup size", stroke: COLORS.line, fill: COLORS.fill, width: 2, value: legend(bytes) }],
    duration: [{ label: "backup duration", stroke: COLORS.line, width: 2, value: legend(seconds) }]
  };
  var AXIS = {
    restore: { values: axisLabels(TIME_UNITS), incrs: TIME_STEPS },
    size: { values: axisLabels(BYTE_AXIS), incrs: BYTE_STEPS },
    duration: { values: axisLabels(TIME_UNITS), incrs: TIME_STEPS }
  };

  function widthOf(el) { return Math.max(280, el.clientWidth); }

  data.charts.forEach(function (chart) {
    var el = document.getElementById(chart.id);
    if (el === null) return;
    var grid = { stroke: COLORS.grid, width: 1 };
    var opts = {
      width: widthOf(el),
      height: HEIGHT,
      tzDate: utc,
      scales: { x: { time: true, range: padSingle }, y: { range: fromZero } },
      axes: [
        { grid: grid, values: dateTicks },
        { grid: grid, size: 78, values: AXIS[chart.kind].values, incrs: AXIS[chart.kind].incrs }
      ],
      series: [{ label: "when (UTC)", value: "{YYYY}-{MM}-{DD} {HH}:{mm}" }].concat(SERIES[chart.kind]),
      cursor: { drag: { x: true, y: false } }
    };
    charts[chart.id] = new uPlot(opts, chart.columns, el);
  });

  var pending = 0;
  window.addEventListener("resize", function () {
    cancelAnimationFrame(pending);
    pending = requestAnimationFrame(function () {
      Object.keys(charts).forEach(function (id) {
        var el = document.getElementById(id);
        charts[id].setSize({ width: widthOf(el), height: HEIGHT });
      });
    });
  });
  document.documentElement.setAttribute("data-charts", String(Object.keys(charts).length));
})();
`;
