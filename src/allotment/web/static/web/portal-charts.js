/*
 * The portal's charts. Each chart is a <canvas data-chart="ID"> next to a
 * <script type="application/json" id="ID"> (Django's json_script) holding:
 *
 *   { "type": "line" | "bar",
 *     "labels": ["2100-03", ...],                 // the shared x axis
 *     "series": [{ "label": "ProjectA", "unit": "hours", "data": [1.5, 0, null, ...],
 *                  "kind": "bar"|"line" (optional, overrides type for this series),
 *                  "dashed": bool, "dotted": bool, "fill": bool, "other": bool }] }
 *
 * Series sharing a unit share a y axis; the first unit is on the left, the others on the
 * right, so CPU hours and disk kilobytes can be read off one time axis. Charts are drawn
 * on page load and again after htmx swaps new content in.
 */
(function () {
  "use strict";

  var PALETTE = ["#2563eb", "#f97316", "#16a34a", "#9333ea", "#e11d48", "#0891b2",
                 "#ca8a04", "#4f46e5", "#db2777", "#65a30d", "#0d9488", "#7c3aed"];
  var OTHER = "#94a3b8";
  var charts = new WeakMap();

  function withAlpha(hex, alpha) {
    var n = parseInt(hex.slice(1), 16);
    return "rgba(" + (n >> 16) + "," + ((n >> 8) & 255) + "," + (n & 255) + "," + alpha + ")";
  }

  function format(value) {
    if (value === null || value === undefined) return "—";
    var digits = Math.abs(value) >= 100 ? 0 : 2;
    return value.toLocaleString(undefined, { maximumFractionDigits: digits });
  }

  function build(spec) {
    var units = [];
    spec.series.forEach(function (s) {
      if (units.indexOf(s.unit) < 0) units.push(s.unit);
    });
    var stacked = spec.type === "bar" && units.length === 1 && spec.series.length > 1;
    var datasets = spec.series.map(function (s, i) {
      var color = s.other ? OTHER : PALETTE[i % PALETTE.length];
      var kind = s.kind || spec.type;
      return {
        type: kind,
        label: s.label,
        data: s.data,
        yAxisID: "y" + units.indexOf(s.unit),
        borderColor: color,
        backgroundColor: kind === "bar" ? withAlpha(color, 0.75) : withAlpha(color, 0.12),
        borderWidth: kind === "bar" ? 0 : 2,
        borderDash: s.dashed ? [6, 4] : s.dotted ? [2, 3] : [],
        fill: !!s.fill,
        pointRadius: 0,
        pointHoverRadius: 4,
        tension: 0.2,
        spanGaps: true,
        order: kind === "bar" ? 2 : 1,
        stack: stacked ? "all" : undefined,
      };
    });
    var scales = {
      x: {
        stacked: stacked,
        grid: { display: false },
        ticks: { maxRotation: 0, autoSkip: true, maxTicksLimit: 12, color: "#64748b" },
      },
    };
    units.forEach(function (unit, i) {
      scales["y" + i] = {
        type: "linear",
        position: i === 0 ? "left" : "right",
        beginAtZero: true,
        stacked: stacked,
        title: { display: !!unit, text: unit, color: "#64748b" },
        grid: { drawOnChartArea: i === 0, color: "#eef2f7" },
        ticks: { color: "#64748b", callback: format },
      };
    });
    return {
      type: spec.type === "bar" ? "bar" : "line",
      data: { labels: spec.labels, datasets: datasets },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        interaction: { mode: "index", intersect: false },
        scales: scales,
        plugins: {
          legend: {
            position: "bottom",
            labels: { boxWidth: 12, boxHeight: 12, usePointStyle: true, color: "#334155" },
          },
          tooltip: {
            callbacks: {
              label: function (ctx) {
                var unit = spec.series[ctx.datasetIndex].unit;
                return " " + ctx.dataset.label + ": " + format(ctx.parsed.y) + (unit ? " " + unit : "");
              },
            },
          },
        },
      },
    };
  }

  function draw(root) {
    if (typeof window.Chart === "undefined") return;
    (root || document).querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      var source = document.getElementById(canvas.dataset.chart);
      if (!source || charts.has(canvas)) return;
      var spec = JSON.parse(source.textContent);
      charts.set(canvas, new window.Chart(canvas, build(spec)));
    });
  }

  document.addEventListener("DOMContentLoaded", function () { draw(document); });
  document.addEventListener("htmx:afterSettle", function (event) { draw(event.target); });
})();
