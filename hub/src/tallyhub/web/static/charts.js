// Charts for the data pages, on uPlot (served from /static/vendor). Include after uPlot.iife.min.js:
//   tallyhub.chart(element, {kind, times, series: [{label, values, color}]}, {unit: "ms"})
// kind "stacked": bars stacked by series (requests by status class); "histogram": bars over bins
// (`times` are the bins' lower bounds, `highs` their upper bounds) on a log-scaled count axis;
// "categories": bars over named categories (`labels`, e.g. status codes; `times` are their indexes,
// one series per colour with gaps elsewhere); anything else: lines. The y axis carries the unit on every tick (ms, %, B…), or as its label for
// counts; the ticks drawn are also written to the element's data-y-ticks, so tests can read what
// the canvas shows.
// Tooltips follow the cursor; dragging across a time chart zooms the whole page to that time range
// by rewriting the URL's filters (period=custom&start&end), so the zoom carries to every page; clicking
// a bar of a stacked time chart focuses the range on that bar's bucket the same way.
"use strict";
window.tallyhub = window.tallyhub || {};
(function (ns) {
  var compactFormat = new Intl.NumberFormat("en", { notation: "compact", maximumFractionDigits: 1 });
  function compact(value) { return value == null ? "" : compactFormat.format(value); }

  var SIZE_UNITS = ["B", "KB", "MB", "GB", "TB"];
  function size(value) {
    var i = 0;
    while (Math.abs(value) >= 1000 && i < SIZE_UNITS.length - 1) { value /= 1000; i++; }
    return (i === 0 ? Math.round(value) : +value.toFixed(1)) + " " + SIZE_UNITS[i];
  }

  // One value in the chart's unit, as a tick label or in a tooltip.
  function formatter(unit) {
    if (unit === "ms") return function (v) { return Math.abs(v) < 1000 ? +v.toFixed(1) + " ms" : +(v / 1000).toFixed(2) + " s"; };
    if (unit === "%") return function (v) { return +v.toFixed(2) + " %"; };
    if (unit === "B") return size;
    if (unit === "apdex") return function (v) { return v.toFixed(2); };
    return compact; // counts: the unit is the axis label
  }
  var COUNT_UNITS = { requests: true, consumers: true };

  function iso(epoch) { return new Date(epoch * 1000).toISOString().replace(/\.\d{3}Z$/, "Z"); }
  // Times as the pages print them (web/formatting.py's `when`): "2 Dec 03:53 UTC", the year only
  // when it is not this one, and how long ago.
  var MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  function pad(n) { return n < 10 ? "0" + n : "" + n; }
  function when(epoch) {
    var d = new Date(epoch * 1000);
    var year = d.getUTCFullYear() !== new Date().getUTCFullYear() ? " " + d.getUTCFullYear() : "";
    return d.getUTCDate() + " " + MONTHS[d.getUTCMonth()] + year + " " + pad(d.getUTCHours()) + ":" +
      pad(d.getUTCMinutes()) + " UTC";
  }
  var STEPS = [[31536000, "year"], [2592000, "month"], [86400, "day"], [3600, "hour"], [60, "minute"]];
  function relative(epoch) {
    var seconds = Date.now() / 1000 - epoch, distance = Math.abs(seconds);
    for (var i = 0; i < STEPS.length; i++) {
      if (distance >= STEPS[i][0]) {
        var n = Math.floor(distance / STEPS[i][0]);
        var phrase = n + " " + STEPS[i][1] + (n === 1 ? "" : "s");
        return seconds > 0 ? phrase + " ago" : "in " + phrase;
      }
    }
    return "just now";
  }

  function tooltip(heading, lines) {
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
          box.textContent = [heading(i)].concat(lines(i)).join("\n");
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

  // Stacked bars without a stacking plugin: series k is drawn as the sum of series 0..k, topmost
  // first, so each lower sum paints over the part of the bar below it.
  function stackedSeries(series) {
    var sums = series[0].values.map(function () { return 0; });
    var stacked = series.map(function (s) {
      sums = sums.map(function (sum, i) { return sum + (s.values[i] || 0); });
      return { label: s.label, color: s.color, values: sums.slice() };
    });
    return stacked.reverse();
  }

  function zoomToSelection(u) {
    if (u.select.width < 5) return;
    var start = u.posToVal(u.select.left, "x");
    var end = u.posToVal(u.select.left + u.select.width, "x");
    var url = new URL(window.location.href);
    url.searchParams.set("period", "custom");
    url.searchParams.set("start", iso(Math.floor(start)));
    url.searchParams.set("end", iso(Math.ceil(end)));
    window.location.assign(url.toString());
  }

  // Clicking a bar of a time chart (not the end of a drag) focuses the range on that bar's bucket.
  function focusOnClick(u, times) {
    var downX = null;
    u.over.addEventListener("mousedown", function (e) { downX = e.clientX; });
    u.over.addEventListener("click", function (e) {
      var idx = u.cursor.idx;
      if (downX === null || Math.abs(e.clientX - downX) > 3 || idx == null || times.length < 2) return;
      var step = idx + 1 < times.length ? times[idx + 1] - times[idx] : times[idx] - times[idx - 1];
      var url = new URL(window.location.href);
      url.searchParams.set("period", "custom");
      url.searchParams.set("start", iso(times[idx]));
      url.searchParams.set("end", iso(times[idx] + step));
      window.location.assign(url.toString());
    });
  }

  ns.chart = function (element, data, options) {
    options = options || {};
    var kind = data.kind || "lines";
    var unit = options.unit || "";
    var format = formatter(unit);
    var categories = kind === "categories";
    var bars = kind === "stacked" || kind === "histogram" || categories;
    var drawn = kind === "stacked" ? stackedSeries(data.series) : data.series;
    if (kind === "histogram") {
      // A log axis has no zero: empty bins are gaps.
      drawn = drawn.map(function (s) {
        return { label: s.label, color: s.color, values: s.values.map(function (v) { return v > 0 ? v : null; }) };
      });
    }
    var xFormat = kind === "histogram" ? formatter(data.x_unit) : null;
    var yAxis = {
      size: 64,
      label: COUNT_UNITS[unit] ? unit : undefined,
      labelSize: 18,
      values: function (u, ticks) {
        var labels = ticks.map(format);
        element.setAttribute("data-y-ticks", JSON.stringify(labels));
        return labels;
      },
    };
    var yScale = {};
    if (unit === "apdex") {
      yScale.range = [0, 1];
      yAxis.splits = function () { return [0, 0.25, 0.5, 0.75, 1]; };
    } else if (kind === "histogram") {
      yScale.distr = 3;
    } else {
      yScale.range = function (u, min, max) { return [0, max > 0 ? max * 1.1 : 1]; };
    }
    if (COUNT_UNITS[unit]) {
      yAxis.incrs = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 1e6, 1e7];
    }
    var barPaths = bars ? window.uPlot.paths.bars({ size: [0.8, 48], gap: 1 }) : null;
    var original = data.series;
    var heading = kind === "histogram"
      ? function (i) { return xFormat(data.times[i]) + " – " + xFormat(data.highs[i]); }
      : kind === "categories"
        ? function (i) { return data.labels[i]; }
        : function (i) { return when(data.times[i]) + " (" + relative(data.times[i]) + ")"; };
    var lines = function (i) {
      return original.map(function (s) {
        var v = s.values[i];
        return s.label + ": " + (v == null ? "–" : bars ? v.toLocaleString() : format(v));
      }).filter(function (line, k) { return !categories || original[k].values[i] != null; });
    };
    var opts = {
      width: element.clientWidth || 600,
      height: options.height || 220,
      cursor: { drag: { x: kind !== "histogram" && !categories, y: false, setScale: false } },
      legend: { show: false },
      scales: {
        x: categories ? { time: false, range: [-0.5, data.times.length - 0.5] } : { time: kind !== "histogram" },
        y: yScale,
      },
      axes: [
        xFormat ? { values: function (u, ticks) { return ticks.map(xFormat); } }
          : categories ? {
            splits: function () { return data.times; },
            values: function (u, ticks) { return ticks.map(function (t) { return data.labels[t]; }); },
          } : {},
        yAxis,
      ],
      // Axes in UTC, like the tooltips and the filter bar's custom range.
      tzDate: function (ts) { return window.uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"); },
      plugins: [tooltip(heading, lines)],
      series: [{}].concat(drawn.map(function (s) {
        var color = s.color || "#2563eb";
        if (bars) return { label: s.label, stroke: color, fill: color, width: 0, paths: barPaths, points: { show: false } };
        return { label: s.label, stroke: color, width: 2, points: { filter: isolatedPoints } };
      })),
      hooks: { setSelect: kind === "histogram" || categories ? [] : [zoomToSelection] },
    };
    var plot = new window.uPlot(opts, [data.times].concat(drawn.map(function (s) { return s.values; })), element);
    if (kind === "stacked") focusOnClick(plot, data.times);
    window.addEventListener("resize", function () { plot.setSize({ width: element.clientWidth, height: opts.height }); });
    return plot;
  };
})(window.tallyhub);
