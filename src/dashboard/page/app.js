// The live page: one section per output of the dataflow, each a chart over the last hours
// and a table of the newest window, refreshed when the feed says new rows were written.
"use strict";

const TOP_N = 5;
const RANGE = "6h";
const RECORD_RANGE = "1m";
const TABLE_ROWS = 10;
const PALETTE = ["#2f6fdf", "#d9480f", "#2b8a3e", "#862e9c", "#c92a2a", "#1098ad", "#e67700", "#5c7cfa", "#495057", "#a61e4d"];

const views = new Map();
let updates = 0;

async function getJSON(path) {
  const response = await fetch(path);
  const body = await response.json();
  if (!response.ok) {
    throw new Error(body.error || response.statusText);
  }
  return body;
}

function element(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    node.setAttribute(name, value);
  }
  for (const child of children) {
    node.append(child);
  }
  return node;
}

function formatTime(ms) {
  return new Date(ms).toISOString().replace("T", " ").replace(/:00\.000Z$/, "Z").replace(/\.000Z$/, "Z");
}

function shortTime(ms) {
  const iso = new Date(ms).toISOString();
  return iso.slice(5, 10) + " " + iso.slice(11, 16);
}

function formatValue(value) {
  if (typeof value === "number") {
    return value.toLocaleString("en-US", { maximumFractionDigits: 3 });
  }
  return value === null || value === undefined ? "–" : String(value);
}

function keyOf(output, row) {
  return output.keys.map((k) => String(row[k])).join(" · ");
}

function badge(isFinal) {
  return element("span", { class: "badge " + (isFinal ? "final" : "provisional") }, isFinal ? "final" : "provisional");
}

function describeWindow(window) {
  const duration = (ms) => (ms % 3600000 === 0 ? ms / 3600000 + "h" : ms % 60000 === 0 ? ms / 60000 + "m" : ms / 1000 + "s");
  switch (window.kind) {
    case "tumbling": return "tumbling " + duration(window.size_ms);
    case "sliding": return "sliding " + duration(window.size_ms) + " every " + duration(window.every_ms);
    case "cumulative": return "cumulative " + duration(window.cycle_ms) + " every " + duration(window.every_ms);
    default: return "one row per record";
  }
}

/// The aggregate charted and tables are ordered by: the ranking's, or the first.
function mainAggregate(output) {
  if (output.rank) {
    return output.rank.by;
  }
  return output.aggregates.length ? output.aggregates[0].name : null;
}

class OutputView {
  constructor(output) {
    this.output = output;
    this.aggregate = mainAggregate(output);
    this.key = "";
    this.pending = null;
    const meta = [describeWindow(output.window)];
    if (output.keys.length) meta.push("by " + output.keys.join(", "));
    if (output.rank) meta.push(output.rank.order + " " + output.rank.k + " by " + output.rank.by);
    this.message = element("div", { class: "meta" });
    this.section = element("section", { id: "output-" + output.name },
      element("h2", {}, output.name),
      element("div", { class: "meta" }, meta.join(" · ")));
    this.section.append(this.controls());
    if (this.aggregate !== null || output.shape === "records") {
      this.canvas = element("canvas", { id: "chart-" + output.name });
      this.section.append(element("div", { class: "chart" }, this.canvas));
    }
    if (output.geo) {
      this.mapCanvas = element("canvas", { id: "map-" + output.name });
      this.section.append(element("div", { class: "chart" }, this.mapCanvas));
    }
    this.table = element("table", { id: "table-" + output.name });
    this.section.append(this.message, this.table);
  }

  controls() {
    const box = element("div", { class: "controls" });
    if (this.output.keys.length && this.output.shape !== "records") {
      this.keySelect = element("select", { id: "key-" + this.output.name },
        element("option", { value: "" }, (this.output.rank ? this.output.rank.order : "top") + " " + TOP_N));
      this.keySelect.addEventListener("change", () => {
        this.key = this.keySelect.value;
        this.refresh();
      });
      box.append("Chart", this.keySelect);
    }
    if (this.output.aggregates.length > 1) {
      const select = element("select", { id: "aggregate-" + this.output.name });
      for (const aggregate of this.output.aggregates) {
        const option = element("option", { value: aggregate.name }, aggregate.name);
        if (aggregate.name === this.aggregate) option.selected = true;
        select.append(option);
      }
      select.addEventListener("change", () => {
        this.aggregate = select.value;
        this.refresh();
      });
      box.append("of", select);
    }
    return box;
  }

  schedule() {
    if (this.pending === null) {
      this.pending = setTimeout(() => {
        this.pending = null;
        this.refresh();
      }, 300);
    }
  }

  async refresh() {
    try {
      const name = encodeURIComponent(this.output.name);
      const latest = await getJSON("/api/outputs/" + name + "/latest");
      if (this.output.shape === "records") {
        const recent = await getJSON("/api/outputs/" + name + "/rows?last=" + RECORD_RANGE);
        this.drawRecords(recent.rows);
        this.drawTable(recent.rows.slice(-TABLE_ROWS).reverse(), "newest records");
        this.message.textContent = "";
        return;
      }
      let path = "/api/outputs/" + name + "/rows?last=" + RANGE;
      if (this.key) {
        path += "&" + encodeURIComponent("key." + this.output.keys[0]) + "=" + encodeURIComponent(this.key);
      }
      const history = await getJSON(path);
      if (this.keySelect) await this.refreshKeys();
      this.drawChart(history.rows, latest.rows);
      this.drawLatest(latest.rows);
      if (this.mapCanvas) this.drawMap(latest.rows);
      this.message.textContent = "";
    } catch (error) {
      this.message.textContent = String(error.message || error);
    }
  }

  async refreshKeys() {
    if (this.output.keys.length !== 1) return;
    const name = encodeURIComponent(this.output.name);
    const found = await getJSON("/api/outputs/" + name + "/keys?last=" + RANGE);
    const field = this.output.keys[0];
    const values = found.keys.map((k) => String(k[field]));
    const have = Array.from(this.keySelect.options).slice(1).map((o) => o.value);
    if (values.join("\u0000") === have.join("\u0000")) return;
    while (this.keySelect.options.length > 1) this.keySelect.remove(1);
    for (const value of values) {
      const option = element("option", { value }, value);
      if (value === this.key) option.selected = true;
      this.keySelect.append(option);
    }
  }

  /// Series of the chosen aggregate: one per key (the chosen key, or the top N).
  drawChart(rows, latest) {
    if (this.aggregate === null) return;
    const output = this.output;
    const series = new Map();
    for (const row of rows) {
      const key = output.keys.length ? keyOf(output, row) : this.aggregate;
      if (!series.has(key)) series.set(key, []);
      series.get(key).push({ x: Date.parse(row[output.time]), y: row[this.aggregate], final: row.final });
    }
    let keys = Array.from(series.keys());
    if (output.keys.length && !this.key) {
      const ranked = latest.map((row) => keyOf(output, row));
      const totals = keys.map((k) => [k, series.get(k).reduce((sum, p) => sum + (p.y || 0), 0)]);
      totals.sort((a, b) => b[1] - a[1]);
      keys = output.rank ? ranked.slice(0, TOP_N) : totals.slice(0, TOP_N).map((t) => t[0]);
    }
    const datasets = keys.filter((k) => series.has(k)).map((key, i) => {
      const points = series.get(key).sort((a, b) => a.x - b.x);
      return {
        label: key,
        data: points,
        borderColor: PALETTE[i % PALETTE.length],
        backgroundColor: PALETTE[i % PALETTE.length],
        borderWidth: 1.5,
        pointRadius: (ctx) => (ctx.raw && !ctx.raw.final ? 3 : 1),
        pointStyle: (ctx) => (ctx.raw && !ctx.raw.final ? "rectRot" : "circle"),
        segment: { borderDash: (ctx) => (points[ctx.p1DataIndex] && !points[ctx.p1DataIndex].final ? [4, 3] : undefined) },
      };
    });
    this.chart = drawInto(this.chart, this.canvas, "line", datasets, {
      x: { type: "linear", ticks: { callback: shortTime, maxTicksLimit: 8 } },
      y: { beginAtZero: true, title: { display: true, text: this.aggregate } },
    }, (items) => formatTime(items[0].parsed.x) + (items[0].raw.final ? " (final)" : " (provisional)"));
  }

  /// A latitude/longitude scatter of the grid cells in the newest ranking.
  drawMap(latest) {
    const field = this.output.keys[0];
    const largest = Math.max(1, ...latest.map((row) => row[this.output.rank.by] || 0));
    const points = latest.map((row) => {
      const [lat, lon] = String(row[field]).split(",").map(Number);
      return { x: lon, y: lat, r: 3 + 12 * (row[this.output.rank.by] || 0) / largest, label: row[field], value: row[this.output.rank.by] };
    }).filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y));
    const datasets = [{ label: "top cells by " + this.output.rank.by, data: points, backgroundColor: "rgba(47,111,223,0.55)", borderColor: "#2f6fdf" }];
    this.map = drawInto(this.map, this.mapCanvas, "bubble", datasets, {
      x: { type: "linear", title: { display: true, text: "longitude" } },
      y: { type: "linear", title: { display: true, text: "latitude" } },
    }, (items) => items[0].raw.label + ": " + formatValue(items[0].raw.value));
  }

  /// Per-record outputs: the first numeric field over time.
  drawRecords(rows) {
    const output = this.output;
    const field = output.keys.find((k) => rows.some((row) => typeof row[k] === "number"));
    if (!field) return;
    const points = rows.map((row) => ({ x: Date.parse(row.window_start), y: row[field], final: true }));
    const datasets = [{ label: field, data: points, showLine: false, pointRadius: 2, backgroundColor: PALETTE[0], borderColor: PALETTE[0] }];
    this.chart = drawInto(this.chart, this.canvas, "scatter", datasets, {
      x: { type: "linear", ticks: { callback: shortTime, maxTicksLimit: 8 } },
      y: { title: { display: true, text: field } },
    }, (items) => formatTime(items[0].parsed.x));
  }

  /// The newest window: the ranking, or the keys ordered by the chosen aggregate.
  drawLatest(rows) {
    if (!rows.length) {
      this.drawTable([], "");
      return;
    }
    const ordered = rows.slice();
    if (!this.output.rank && this.aggregate !== null) {
      ordered.sort((a, b) => (b[this.aggregate] || 0) - (a[this.aggregate] || 0));
    }
    const first = rows[0];
    const caption = (this.output.rank ? "ranking of " : "newest window, ") +
      formatTime(Date.parse(first.window_start)) + " – " + formatTime(Date.parse(first.window_end));
    this.drawTable(ordered.slice(0, TABLE_ROWS), caption);
  }

  drawTable(rows, caption) {
    const output = this.output;
    const columns = [];
    if (output.rank) columns.push(["rank", true]);
    if (output.shape === "records") columns.push(["window_start", false]);
    for (const key of output.keys) columns.push([key, false]);
    for (const aggregate of output.aggregates) columns.push([aggregate.name, true]);
    this.table.replaceChildren();
    this.table.append(element("caption", {}, caption));
    if (!rows.length) {
      this.table.append(element("tr", {}, element("td", { class: "empty" }, "no rows yet")));
      return;
    }
    const head = element("tr", {});
    for (const [name, numeric] of columns) head.append(element("th", numeric ? { class: "num" } : {}, name));
    head.append(element("th", {}, ""));
    this.table.append(element("thead", {}, head));
    const body = element("tbody", {});
    for (const row of rows) {
      const line = element("tr", { class: row.final ? "final" : "provisional" });
      for (const [name, numeric] of columns) line.append(element("td", numeric ? { class: "num" } : {}, formatValue(row[name])));
      line.append(element("td", {}, badge(row.final)));
      body.append(line);
    }
    this.table.append(body);
  }
}

/// Creates the chart the first time, then only swaps its data.
function drawInto(chart, canvas, type, datasets, scales, title) {
  if (chart) {
    chart.data.datasets = datasets;
    chart.update("none");
    return chart;
  }
  return new Chart(canvas, {
    type,
    data: { datasets },
    options: {
      animation: false,
      maintainAspectRatio: false,
      scales,
      plugins: {
        legend: { position: "bottom", labels: { boxWidth: 10 } },
        tooltip: { callbacks: { title } },
      },
    },
  });
}

async function showStatus() {
  const status = await getJSON("/api/status");
  const where = status.backend === "live" ? "live from the engine" : "history from Cassandra";
  const ended = status.input_ended ? " · input ended: these are the results" : "";
  document.getElementById("status").textContent = where + ended + " · " + updates + " updates";
}

function listen() {
  const feed = new EventSource("/api/stream");
  feed.addEventListener("rows", (event) => {
    const batch = JSON.parse(event.data);
    const view = views.get(batch.output);
    if (view) view.schedule();
    updates += 1;
    document.body.dataset.updates = String(updates);
    showStatus().catch(() => {});
  });
}

async function start() {
  const catalog = await getJSON("/api/outputs");
  document.getElementById("dataflow").textContent = catalog.dataflow;
  document.title = "Tidemark · " + catalog.dataflow;
  const main = document.getElementById("outputs");
  for (const output of catalog.outputs) {
    const view = new OutputView(output);
    views.set(output.name, view);
    main.append(view.section);
  }
  listen();
  await Promise.all(Array.from(views.values()).map((view) => view.refresh()));
  await showStatus();
  document.body.dataset.ready = "true";
  setInterval(() => showStatus().catch(() => {}), 5000);
}

start().catch((error) => {
  document.getElementById("status").textContent = "cannot load: " + error.message;
});
