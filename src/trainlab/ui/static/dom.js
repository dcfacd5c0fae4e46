/* trainlab ui: DOM helpers, JSON fetch, router and chart defaults. Data is only ever put in the
   page as text (textContent / text nodes), never as HTML. */
"use strict";
const TL = { pages: {}, timers: [] };

TL.el = function (tag, attrs, ...kids) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "on") for (const [ev, fn] of Object.entries(v)) node.addEventListener(ev, fn);
    else if (k === "class") node.className = v;
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const kid of kids.flat(Infinity)) {
    if (kid === null || kid === undefined || kid === false) continue;
    node.appendChild(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  return node;
};

TL.fmt = function (v) {
  if (v === null || v === undefined) return "";
  if (typeof v === "number") {
    if (Number.isInteger(v)) return String(v);
    const a = Math.abs(v);
    return a !== 0 && (a < 1e-3 || a >= 1e5) ? v.toExponential(2) : v.toFixed(4);
  }
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
};

TL.when = function (t) {
  if (!t) return "";
  const d = new Date(t * 1000);
  return d.toISOString().slice(0, 16).replace("T", " ");
};

TL.duration = function (s) {
  if (s === null || s === undefined || !isFinite(s)) return "?";
  if (s < 90) return Math.round(s) + " s";
  if (s < 5400) return Math.round(s / 60) + " min";
  return (s / 3600).toFixed(1) + " h";
};

TL.api = async function (path, params) {
  const url = new URL(path, location.origin);
  for (const [k, v] of Object.entries(params || {})) if (v !== "" && v !== undefined) url.searchParams.set(k, v);
  const resp = await fetch(url, { credentials: "same-origin" });
  const body = await resp.json();
  if (!resp.ok) throw new Error(body.error || resp.statusText);
  return body;
};

TL.post = async function (path, data) {
  const resp = await fetch(path, { method: "POST", headers: { "content-type": "application/json" },
                                   body: JSON.stringify(data), credentials: "same-origin" });
  const body = await resp.json();
  if (!resp.ok) throw new Error(body.error || resp.statusText);
  return body;
};

TL.badge = (status) => TL.el("span", { class: "badge " + status }, status === "running" ? "● running" : status);
TL.runLink = (id, text) => TL.el("a", { href: "#/run/" + encodeURIComponent(id) }, text || id);

TL.every = function (ms, fn) {
  const id = setInterval(() => { if (!document.hidden) fn(); }, ms);
  TL.timers.push(id);
  return id;
};

TL.table = function (columns, rows, numeric) {
  const head = TL.el("tr", {}, columns.map((c, i) => TL.el("th", { class: numeric && numeric[i] ? "num" : "" }, c)));
  const body = rows.map((r) => TL.el("tr", {}, r.map((v, i) =>
    TL.el("td", { class: typeof v === "number" ? "num" : "" }, v instanceof Node ? v : v === null ? "—" : TL.fmt(v)))));
  const table = TL.el("table", { class: columns.length <= 2 ? "kv" : "" }, TL.el("thead", {}, head), TL.el("tbody", {}, body));
  return TL.el("div", { class: "scroll" }, table);
};

/* Plotly: every chart exports as PNG (camera button) and SVG (the added button). */
TL.plotConfig = {
  responsive: true, displaylogo: false,
  toImageButtonOptions: { format: "png", filename: "trainlab-chart", scale: 2 },
  modeBarButtonsToAdd: [{
    name: "Download plot as SVG", icon: Plotly.Icons.disk,
    click: (gd) => Plotly.downloadImage(gd, { format: "svg", filename: "trainlab-chart" }),
  }],
};
TL.layout = function (extra) {
  return Object.assign({
    margin: { l: 55, r: 15, t: 10, b: 45 }, font: { size: 12 }, paper_bgcolor: "#fff", plot_bgcolor: "#fff",
    legend: { orientation: "h", x: 0, y: 1.02, yanchor: "bottom" }, hovermode: "closest",
  }, extra || {});
};
TL.plot = function (node, traces, layout) {
  return Plotly.react(node, traces, TL.layout(layout), TL.plotConfig);
};
TL.colors = ["#2162b0", "#d0562b", "#1b8a5a", "#8a3fb0", "#b08a1b", "#1b8fa8", "#b01b5f", "#556270"];
TL.color = (i) => TL.colors[i % TL.colors.length];
/* line styles for a second grouping field, told apart at a glance; they repeat after six */
TL.DASHES = ["solid", "dash", "dot", "dashdot", "longdash", "longdashdot"];

/* Exponential moving average with debiasing (as W&B smooths): weight in [0, 1). */
TL.smooth = function (ys, weight) {
  if (!weight) return ys;
  let acc = 0, norm = 0;
  return ys.map((y) => {
    if (y === null || !isFinite(y)) return y;
    acc = acc * weight + y; norm = norm * weight + 1;
    return acc / norm;
  });
};

TL.route = function () {
  TL.timers.forEach(clearInterval);
  TL.timers = [];
  const [page, ...rest] = location.hash.replace(/^#\/?/, "").split("/");
  const name = TL.pages[page] ? page : "runs";
  document.querySelectorAll("header nav a").forEach((a) =>
    a.classList.toggle("on", a.dataset.page === name || (name === "run" && a.dataset.page === "runs")
      || ((name === "study" || name === "search") && a.dataset.page === "studies")));
  const main = document.getElementById("main");
  main.replaceChildren();
  document.getElementById("live").textContent = "";
  TL.pages[name](main, rest.map(decodeURIComponent));
};

TL.fail = (node, err) => node.replaceChildren(TL.el("p", { class: "error" }, String(err.message || err)));

window.addEventListener("hashchange", TL.route);
window.addEventListener("DOMContentLoaded", TL.route);
