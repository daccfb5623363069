// Charts for the data pages, on uPlot (served from /static/vendor). Include after uPlot.iife.min.js:
//   tallyhub.chart(element, {times: [epoch s...], series: [{label, values, color}]}, {unit: "ms"})
// Tooltips follow the cursor; dragging across a chart zooms the whole page to that time range by
// rewriting the URL's filters (period=custom&start&end), so the zoom carries to every page.
"use strict";
window.tallyhub = window.tallyhub || {};
(function (ns) {
  var compactFormat = new Intl.NumberFormat("en", { notation: "compact", maximumFractionDigits: 1 });
  function compact(value) { return value == null ? "" : compactFormat.format(value); }

  function iso(epoch) { return new Date(epoch * 1000).toISOString().replace(/\.\d{3}Z$/, "Z"); }

  function tooltip(unit) {
    var box;
    return {
      hooks: {
        init: function (u) {
          box = document.createElement("div");
          box.className = "chart-tooltip";
          box.hidden = true;
          u.over.appendChild(box);
        },
        setCursor: function (u) {
          var i = u.cursor.idx;
          if (i == null) { box.hidden = true; return; }
          var lines = [new Date(u.data[0][i] * 1000).toISOString().slice(0, 16).replace("T", " ") + " UTC"];
          for (var s = 1; s < u.series.length; s++) {
            var v = u.data[s][i];
            lines.push(u.series[s].label + ": " + (v == null ? "–" : v.toLocaleString() + (unit ? " " + unit : "")));
          }
          box.textContent = lines.join("\n");
          box.hidden = false;
          box.style.left = Math.min(u.cursor.left + 12, u.over.clientWidth - box.offsetWidth) + "px";
          box.style.top = u.cursor.top + 12 + "px";
        },
      },
    };
  }

  // A value with gaps on both sides has no line to draw (an hour with traffic among empty ones on
  // a percentile or Apdex chart): uPlot draws points only when the series is sparse, so mark those.
  function isolatedPoints(u, seriesIdx, show) {
    if (show) return null; // every point is drawn already
    var values = u.data[seriesIdx], found = [];
    for (var i = 0; i < values.length; i++) {
      if (values[i] != null && values[i - 1] == null && values[i + 1] == null) found.push(i);
    }
    return found.length ? found : null;
  }

  ns.chart = function (element, data, options) {
    options = options || {};
    var opts = {
      width: element.clientWidth || 600,
      height: options.height || 220,
      cursor: { drag: { x: true, y: false, setScale: false } },
      legend: { show: false },
      // Compact y labels (1.2K, 3.4M) so that large byte counts fit the axis.
      axes: [{}, { size: 56, values: function (u, ticks) { return ticks.map(compact); } }],
      // Axes in UTC, like the tooltips and the filter bar's custom range.
      tzDate: function (ts) { return window.uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"); },
      plugins: [tooltip(options.unit)],
      series: [{}].concat(data.series.map(function (s) {
        return {
          label: s.label, stroke: s.color || "#2563eb", fill: s.fill, width: 2,
          points: { filter: isolatedPoints },
        };
      })),
      hooks: {
        setSelect: [function (u) {
          if (u.select.width < 5) return;
          var start = u.posToVal(u.select.left, "x");
          var end = u.posToVal(u.select.left + u.select.width, "x");
          var url = new URL(window.location.href);
          url.searchParams.set("period", "custom");
          url.searchParams.set("start", iso(Math.floor(start)));
          url.searchParams.set("end", iso(Math.ceil(end)));
          window.location.assign(url.toString());
        }],
      },
    };
    var plot = new window.uPlot(opts, [data.times].concat(data.series.map(function (s) { return s.values; })), element);
    window.addEventListener("resize", function () { plot.setSize({ width: element.clientWidth, height: opts.height }); });
    return plot;
  };
})(window.tallyhub);
