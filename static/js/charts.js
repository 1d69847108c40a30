// History charts on the host and container pages (metrics/widgets/charts.html), drawn with uPlot.
// A range's history comes from the series URL as columns (null = no data: a break in the line). On ranges
// of an hour or less, each sweep's point pushed over the page's WebSocket is appended; older points drop off.
(function () {
  "use strict";

  const LIVE_UP_TO = 3600; // s: longer ranges are coarse buckets, where a 5 s point changes nothing
  const METRICS = ["cpu", "mem", "memp", "rx", "tx", "rd", "wr", "pids", "load", "disk"];
  const HEIGHT = 170;
  const STORE_KEY = "dockmon.chartRange";
  const root = document.documentElement;
  const darkQuery = window.matchMedia("(prefers-color-scheme: dark)");

  // --- units ---------------------------------------------------------------------------------------------
  const SIZE_UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

  function scaled(value) {
    let i = 0;
    while (Math.abs(value) >= 1024 && i < SIZE_UNITS.length - 1) { value /= 1024; i++; }
    return [value, SIZE_UNITS[i]];
  }
  function size(value) {
    const [v, unit] = scaled(value);
    return (unit === "B" ? v.toFixed(0) : v.toFixed(1)) + " " + unit;
  }
  function shortNumber(value) { return String(+value.toFixed(2)); }
  function shortSize(value) {
    const [v, unit] = scaled(value);
    return shortNumber(v) + " " + unit;
  }

  // Byte axes tick at powers of two (256 KiB, 512 KiB, 1 MiB) rather than at 500,000.
  const BYTE_INCRS = [];
  for (let power = 0; power < 6; power++) {
    for (let m = 1; m < 1024; m *= 2) BYTE_INCRS.push(m * Math.pow(1024, power));
  }

  const UNITS = {
    percent: { legend: function (v) { return v.toFixed(1) + " %"; }, axis: function (v) { return shortNumber(v) + " %"; } },
    bytes: { legend: size, axis: shortSize, incrs: BYTE_INCRS },
    rate: { legend: function (v) { return size(v) + "/s"; }, axis: function (v) { return shortSize(v) + "/s"; }, incrs: BYTE_INCRS },
    number: { legend: function (v) { return v.toFixed(2); }, axis: shortNumber },
  };

  // One chart per entry; each line is [column, label] and gets its maximum drawn faintly behind it.
  const CHARTS = [
    { key: "cpu", title: "CPU", hint: { container: "% of one CPU", host: "% of the machine" }, unit: "percent", lines: [["cpu", "CPU"]] },
    { key: "mem", title: "Memory", unit: "bytes", lines: [["mem", "Used"]], share: "memp" },
    { key: "net", title: "Network", unit: "rate", lines: [["rx", "Received"], ["tx", "Sent"]] },
    { key: "io", title: "Disk I/O", unit: "rate", lines: [["rd", "Read"], ["wr", "Written"]] },
    { key: "load", title: "Load", hint: { host: "1 minute" }, unit: "number", lines: [["load", "Load"]], hostOnly: true },
    { key: "disk", title: "Disk used", hint: { host: "fullest filesystem" }, unit: "percent", lines: [["disk", "Used"]], hostOnly: true },
  ];

  // 24-hour time labels; the date goes under the first tick and under the first tick of each new day
  // (uPlot's rollover formats: tick size, format, then on a new year, month, day, hour, minute, second).
  const TIME_TICKS = [
    [86400 * 365, "{YYYY}", null, null, null, null, null, null, 1],
    [86400 * 28, "{MMM}", "\n{YYYY}", null, null, null, null, null, 1],
    [86400, "{D} {MMM}", "\n{YYYY}", null, null, null, null, null, 1],
    [3600, "{HH}:{mm}", "\n{D} {MMM}", null, "\n{D} {MMM}", null, null, null, 1],
    [60, "{HH}:{mm}", "\n{D} {MMM}", null, "\n{D} {MMM}", null, null, null, 1],
    [1, "{HH}:{mm}:{ss}", "\n{D} {MMM}", null, "\n{D} {MMM}", null, null, null, 1],
  ];

  function effectiveTheme() {
    const chosen = root.dataset.theme;
    if (chosen === "light" || chosen === "dark") return chosen;
    return darkQuery.matches ? "dark" : "light";
  }

  function emptyColumns() {
    const columns = { t: [] };
    METRICS.forEach(function (name) { columns[name] = []; columns[name + "_max"] = []; });
    return columns;
  }

  function number(value) {
    return typeof value === "number" && isFinite(value) ? value : null;
  }

  // Times read in DockMon's time zone (TZ), like every other time on the page; the browser's if it is unknown.
  function zonedDate(zone) {
    if (!zone) return null;
    try {
      uPlot.tzDate(new Date(), zone);
    } catch (e) {
      return null;
    }
    return function (seconds) { return uPlot.tzDate(new Date(seconds * 1000), zone); };
  }

  // Wide enough for the longest tick label, so "512 MiB/s" is never clipped.
  function axisSize(u, values, axisIdx) {
    const axis = u.axes[axisIdx];
    let widest = 0;
    if (values && values.length) {
      u.ctx.font = axis.font[0];
      values.forEach(function (text) { widest = Math.max(widest, u.ctx.measureText(text).width); });
    }
    return Math.ceil(axis.ticks.size + axis.gap + widest / (window.devicePixelRatio || 1)) + 4;
  }

  function setup(el) {
    const kind = el.dataset.chartKind;
    const grid = el.querySelector('[data-role="grid"]');
    const status = el.querySelector('[data-role="status"]');
    const slot = el.querySelector('[data-role="feed"]');
    const buttons = el.querySelectorAll("button[data-range]");
    const RANGES = {}; // "1h" -> 3600: the server's list, from the buttons
    buttons.forEach(function (button) { RANGES[button.dataset.range] = Number(button.dataset.seconds); });
    const syncKey = "charts-" + el.dataset.feed; // hovering one chart shows the same moment in all of them
    const charts = new Map(); // chart key -> {fig, u}
    const tzDate = zonedDate(el.dataset.timeZone);

    let range = el.dataset.range;
    let columns = emptyColumns();
    let from = null, to = null, step = 6;
    let request = null; // the AbortController of the fetch in flight
    let pending = []; // points pushed while a fetch is in flight
    let socketDropped = false;

    try {
      const saved = window.localStorage.getItem(STORE_KEY);
      if (saved && RANGES[saved]) range = saved;
    } catch (e) { /* storage may be off: the default range it is */ }

    function isLive() { return RANGES[range] <= LIVE_UP_TO; }

    function setState(state, text) {
      el.dataset.state = state;
      el.setAttribute("aria-busy", state === "loading" ? "true" : "false");
      if (status.textContent !== text) status.textContent = text;
    }

    function palette() {
      const style = getComputedStyle(el);
      const css = function (name, fallback) { return style.getPropertyValue(name).trim() || fallback; };
      return {
        axis: css("--chart-axis", "#5b6478"),
        grid: css("--chart-grid", "rgba(91, 100, 120, 0.15)"),
        lines: [1, 2].map(function (n) {
          return { stroke: css("--chart-" + n, "#2563eb"), max: css("--chart-" + n + "-max", "rgba(37, 99, 235, 0.35)"),
                   fill: css("--chart-" + n + "-fill", "transparent") };
        }),
      };
    }

    function options(def, colours, width) {
      const unit = UNITS[def.unit];
      const series = [{ value: "{YYYY}-{MM}-{DD} {HH}:{mm}:{ss}" }];
      def.lines.forEach(function (line, n) {
        const colour = colours.lines[n % colours.lines.length];
        series.push({
          label: line[1],
          stroke: colour.stroke,
          fill: def.lines.length === 1 ? colour.fill : undefined,
          width: 1.5,
          spanGaps: false,
          points: { size: 4 },
          value: function (u, value, seriesIdx, idx) {
            if (value == null) return "—";
            let text = unit.legend(value);
            const max = idx == null ? null : u.data[seriesIdx + 1][idx];
            if (max != null && max > value) text += " (max " + unit.legend(max) + ")";
            const share = def.share && idx != null ? columns[def.share][idx] : null;
            if (share != null) text += " · " + UNITS.percent.legend(share);
            return text;
          },
        });
        series.push({ label: line[1] + " max", stroke: colour.max, width: 1, dash: [4, 3], spanGaps: false,
                      points: { show: false }, value: function (u, v) { return v == null ? "—" : unit.legend(v); },
                      inLegend: false });
      });
      series.forEach(function (s) { if (s.fill === undefined) delete s.fill; });
      const yAxis = {
        stroke: colours.axis,
        grid: { stroke: colours.grid, width: 1 },
        ticks: { stroke: colours.grid, width: 1 },
        values: function (u, splits) { return splits.map(function (v) { return v == null ? "" : unit.axis(v); }); },
        size: axisSize,
      };
      if (unit.incrs) yAxis.incrs = unit.incrs;
      const opts = {
        width: width,
        height: HEIGHT,
        series: series,
        scales: {
          // The x axis spans the whole range asked for, not just the part that has data.
          x: { time: true, range: function (u, min, max) { return from != null && to > from ? [from, to] : [min, max]; } },
          y: { range: function (u, min, max) { return [0, max > 0 ? max * 1.1 : 1]; } },
        },
        axes: [
          { stroke: colours.axis, grid: { stroke: colours.grid, width: 1 }, ticks: { stroke: colours.grid, width: 1 }, values: TIME_TICKS },
          yAxis,
        ],
        // A vertical line only: with the cursors in step, a horizontal one means nothing in the other charts.
        cursor: { sync: { key: syncKey }, y: false, drag: { x: false, y: false, setScale: false }, points: { size: 6 } },
        legend: { live: true },
        hooks: {
          init: [function (u) {
            // The faint maximum lines stay out of the legend: their values are in the line's own entry.
            u.root.querySelectorAll(".u-legend .u-series").forEach(function (row, i) {
              if (u.series[i] && u.series[i].inLegend === false) row.style.display = "none";
            });
          }],
        },
      };
      if (tzDate) opts.tzDate = tzDate;
      return opts;
    }

    function chartData(def) {
      const data = [columns.t];
      def.lines.forEach(function (line) { data.push(columns[line[0]], columns[line[0] + "_max"]); });
      return data;
    }

    function hasValues(def) {
      return def.lines.some(function (line) { return columns[line[0]].some(function (v) { return v != null; }); });
    }

    function wanted(def) {
      return !def.hostOnly || (kind === "host" && hasValues(def));
    }

    function plotWidth(fig) {
      return Math.max(200, Math.floor(fig.clientWidth));
    }

    function create(def, colours) {
      const fig = document.createElement("figure");
      fig.className = "chart";
      fig.dataset.chart = def.key;
      const caption = document.createElement("figcaption");
      caption.textContent = def.title;
      const hint = def.hint && def.hint[kind];
      if (hint) {
        const small = document.createElement("span");
        small.className = "muted";
        small.textContent = " " + hint;
        caption.append(small);
      }
      fig.append(caption);
      // Keep the charts in their defined order whatever appears later (load and disk may come and go).
      const after = CHARTS.slice(CHARTS.indexOf(def) + 1).map(function (d) { return charts.get(d.key); }).find(Boolean);
      grid.insertBefore(fig, after ? after.fig : null);
      const u = new uPlot(options(def, colours, plotWidth(fig)), chartData(def), fig);
      charts.set(def.key, { fig: fig, u: u });
    }

    function destroy(key) {
      const chart = charts.get(key);
      chart.u.destroy();
      chart.fig.remove();
      charts.delete(key);
    }

    function hasData() {
      return columns.t.length > 0 && CHARTS.some(function (def) { return wanted(def) && hasValues(def); });
    }

    function render() {
      el.dataset.points = String(columns.t.length);
      el.dataset.range = range;
      if (from != null) { el.dataset.from = String(from); el.dataset.to = String(to); }
      if (!hasData()) {
        Array.from(charts.keys()).forEach(destroy);
        grid.hidden = true;
        setState("empty", "No data for this range yet.");
        return;
      }
      grid.hidden = false;
      setState("ready", isLive() ? "Live" : "");
      let colours = null;
      CHARTS.forEach(function (def) {
        const chart = charts.get(def.key);
        if (!wanted(def)) {
          if (chart) destroy(def.key);
        } else if (chart) {
          chart.u.setData(chartData(def));
        } else {
          colours = colours || palette();
          create(def, colours);
        }
      });
      el.dataset.drawnTheme = effectiveTheme();
    }

    // Colours come from the stylesheet's custom properties, read when a chart is built: rebuild on a theme change.
    function redraw() {
      Array.from(charts.keys()).forEach(destroy);
      if (el.dataset.state === "ready") render();
      else el.dataset.drawnTheme = effectiveTheme();
    }

    function useColumns(body) {
      const fresh = emptyColumns();
      const given = body.columns || {};
      fresh.t = (given.t || []).slice();
      Object.keys(fresh).forEach(function (key) {
        if (key === "t") return;
        const values = given[key];
        fresh[key] = fresh.t.map(function (_, i) { return values ? number(values[i]) : null; });
      });
      columns = fresh;
      from = number(body.from);
      to = number(body.to);
      step = number(body.step) || step;
    }

    function load() {
      if (request) request.abort();
      const controller = new AbortController();
      request = controller;
      pending = [];
      setState("loading", "Loading…");
      const url = new URL(el.dataset.seriesUrl, window.location.href);
      url.searchParams.set("range", range);
      fetch(url, { signal: controller.signal, credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) {
          const type = response.headers.get("Content-Type") || "";
          if (!type.includes("json")) {
            throw new Error(response.ok ? "The answer was not chart data: signed out? Reload the page." : "The server answered " + response.status + ".");
          }
          return response.json().then(function (body) {
            if (!response.ok || body.error) throw new Error(body.error || "The server answered " + response.status + ".");
            return body;
          });
        })
        .then(function (body) {
          if (request !== controller) return;
          request = null;
          useColumns(body);
          const queued = pending;
          pending = [];
          if (isLive()) queued.forEach(function (point) { append(point, false); });
          render();
        })
        .catch(function (error) {
          if (controller.signal.aborted) return;
          request = null;
          Array.from(charts.keys()).forEach(destroy);
          grid.hidden = true;
          const reason = error instanceof TypeError ? "DockMon cannot be reached." : error.message;
          setState("error", "The history could not be loaded: " + reason + " Choose a range to try again.");
        });
    }

    // Adds one pushed point; a pause longer than a few sweeps becomes a break in the line, not a slope.
    function append(point, draw) {
      const t = number(point.t);
      const n = columns.t.length;
      if (t == null || (n && t <= columns.t[n - 1])) return; // seen already (htmx may report a swap twice)
      if (n) {
        const spacing = n > 1 ? columns.t[n - 1] - columns.t[n - 2] : step;
        if (t - columns.t[n - 1] > Math.max(3 * spacing, 20)) {
          Object.keys(columns).forEach(function (key) { columns[key].push(key === "t" ? columns.t[n - 1] + spacing : null); });
        }
      }
      columns.t.push(t);
      METRICS.forEach(function (name) {
        const value = number(point[name]);
        columns[name].push(value);
        columns[name + "_max"].push(value); // one sample: its own maximum
      });
      const cutoff = t - RANGES[range];
      let old = 0;
      while (old < columns.t.length && columns.t[old] < cutoff) old++;
      if (old) Object.keys(columns).forEach(function (key) { columns[key].splice(0, old); });
      from = cutoff;
      to = t;
      if (draw) render();
    }

    function readFeed() {
      const template = slot.querySelector("template.chart-feed");
      const raw = template && template.getAttribute("data-point");
      if (!raw || !isLive()) return;
      let point;
      try { point = JSON.parse(raw); } catch (e) { return; }
      if (request) pending.push(point);
      else append(point, true);
    }

    function choose(next) {
      range = next;
      buttons.forEach(function (button) { button.setAttribute("aria-pressed", button.dataset.range === range ? "true" : "false"); });
      try { window.localStorage.setItem(STORE_KEY, range); } catch (e) { /* not remembered, that's all */ }
      load();
    }

    buttons.forEach(function (button) {
      button.addEventListener("click", function () { choose(button.dataset.range); });
    });

    // htmx swaps the pushed <template> in by id (and settles its attributes a moment later): watch the slot.
    new MutationObserver(readFeed).observe(slot, { childList: true, subtree: true, attributes: true, attributeFilter: ["data-point"] });

    let lastWidth = 0;
    new ResizeObserver(function () {
      const width = grid.clientWidth;
      if (width === lastWidth) return;
      lastWidth = width;
      charts.forEach(function (chart) { chart.u.setSize({ width: plotWidth(chart.fig), height: HEIGHT }); });
    }).observe(grid);

    new MutationObserver(redraw).observe(root, { attributes: true, attributeFilter: ["data-theme"] });
    darkQuery.addEventListener("change", redraw);

    // Points pushed while the WebSocket was down are lost: fetch the range again once it is back.
    document.addEventListener("htmx:wsClose", function () { socketDropped = true; });
    document.addEventListener("htmx:wsOpen", function () {
      if (socketDropped && isLive()) load();
      socketDropped = false;
    });

    choose(range);
  }

  function start() {
    if (typeof uPlot === "undefined") return;
    document.querySelectorAll(".charts[data-series-url]").forEach(function (el) {
      if (el.dataset.chartsReady) return;
      el.dataset.chartsReady = "1";
      setup(el);
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
