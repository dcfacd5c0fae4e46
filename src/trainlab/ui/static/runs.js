/* Runs page: filter query, sortable server-side paged table, selection -> config diff + live curves. */
"use strict";
TL.runsState = { q: "", cols: "", sort: "created", order: "desc", page: 0, size: 50, selected: new Set(),
                 metric: "val_acc", x: "epoch", log: false, smooth: 0 };

TL.pages.runs = function (main) {
  const s = TL.runsState;
  const query = TL.el("input", { type: "search", class: "query", id: "filter", value: s.q,
    placeholder: "model.name=cnn and val_acc>0.9 and status=finished", "aria-label": "filter" });
  const cols = TL.el("input", { type: "text", id: "cols", value: s.cols, placeholder: "columns: optim.lr, val_acc",
    "aria-label": "columns" });
  const error = TL.el("div", { class: "error", id: "filter-error" });
  const count = TL.el("span", { class: "muted", id: "count" });
  const tableBox = TL.el("div", { id: "runs-table" });
  const pager = TL.el("div", { class: "pager" });
  const selInfo = TL.el("span", { class: "muted", id: "selected" });
  const reportOut = TL.el("span", { class: "muted", id: "report-out" });
  const reportBtn = TL.el("button", { id: "report", on: { click: () => makeReport() } }, "Report of this selection");
  const clearBtn = TL.el("button", { on: { click: () => { s.selected.clear(); load(); } } }, "Clear selection");
  const compare = TL.el("div", { id: "compare" });
  const form = TL.el("form", { class: "controls", on: { submit: (e) => { e.preventDefault(); s.q = query.value;
    s.cols = cols.value; s.page = 0; load(); } } }, query, cols, TL.el("button", { class: "primary", type: "submit" }, "Filter"));
  main.append(TL.el("h1", {}, "Runs"),
    TL.el("div", { class: "panel" }, form, error, count, tableBox, pager),
    TL.el("div", { class: "panel" }, TL.el("div", { class: "controls" }, selInfo, clearBtn, reportBtn, reportOut), compare));

  let shown = null;
  async function load() {
    let data;
    try {
      data = await TL.api("/api/runs", { q: s.q, cols: s.cols, sort: s.sort, order: s.order, page: s.page, size: s.size });
    } catch (err) { error.textContent = err.message; return; }
    error.textContent = "";
    count.textContent = `${data.total} runs match` + (data.total > data.size ? ` · page ${data.page + 1} of ${Math.ceil(data.total / data.size)}` : "");
    const head = ["", "run", "name", "status", "created", ...data.columns];
    const keys = [null, "id", "name", "status", "created", ...data.columns];
    const numeric = data.columns.map((_, j) => data.rows.some((r) => typeof r.values[j] === "number"));
    const th = head.map((h, i) => TL.el("th", { class: i > 4 && numeric[i - 5] ? "num" : "", title: keys[i] ? "sort by " + keys[i] : "",
      on: { click: () => { if (!keys[i]) return; s.order = s.sort === keys[i] && s.order === "desc" ? "asc" : "desc";
        s.sort = keys[i]; load(); } } }, h + (s.sort === keys[i] ? (s.order === "desc" ? " ↓" : " ↑") : "")));
    const rows = data.rows.map((r) => {
      const box = TL.el("input", { type: "checkbox", "aria-label": "select " + r.id, checked: s.selected.has(r.id),
        on: { change: (e) => { e.target.checked ? s.selected.add(r.id) : s.selected.delete(r.id); showSelection(); } } });
      return TL.el("tr", { class: s.selected.has(r.id) ? "sel" : "", "data-id": r.id },
        TL.el("td", {}, box), TL.el("td", { class: "id" }, TL.runLink(r.id)), TL.el("td", { class: "name", title: r.name }, r.name),
        TL.el("td", {}, TL.badge(r.status)), TL.el("td", {}, TL.when(r.created)),
        r.values.map((v) => typeof v === "number" ? TL.el("td", { class: "num" }, TL.fmt(v))
          : TL.el("td", { class: "text", title: TL.fmt(v) }, TL.fmt(v))));
    });
    tableBox.replaceChildren(TL.el("div", { class: "scroll" }, TL.el("table", { id: "runs" },
      TL.el("thead", {}, TL.el("tr", {}, th)), TL.el("tbody", {}, rows))));
    const pages = Math.ceil(data.total / data.size);
    pager.replaceChildren(
      TL.el("button", { disabled: s.page === 0, on: { click: () => { s.page--; load(); } } }, "‹ newer"),
      TL.el("span", { class: "muted" }, `${s.page + 1} / ${Math.max(pages, 1)}`),
      TL.el("button", { disabled: s.page + 1 >= pages, on: { click: () => { s.page++; load(); } } }, "older ›"),
      TL.el("button", { on: { click: () => { data.rows.forEach((r) => s.selected.add(r.id)); load(); } } }, "select page"));
    showSelection();
  }

  function showSelection() {
    const n = s.selected.size;
    selInfo.textContent = n ? `${n} selected` : "select runs to compare them";
    reportBtn.disabled = !n;
    tableBox.querySelectorAll("tr[data-id]").forEach((tr) => tr.classList.toggle("sel", s.selected.has(tr.dataset.id)));
    const key = [...s.selected].join(",");
    if (key !== shown) { shown = key; TL.compare(compare, [...s.selected]); }
  }

  async function makeReport() {
    reportOut.textContent = "writing the report…";
    try {
      const made = await TL.post("/api/report", { ids: [...s.selected] });
      reportOut.replaceChildren("written: ", TL.el("a", { href: made.url, target: "_blank" }, made.path));
    } catch (err) { reportOut.textContent = err.message; }
  }
  load();
  TL.every(5000, load);
};

/* Config diff and live curves of the selected runs (polled every second while any is running). */
TL.compare = function (node, ids) {
  const s = TL.runsState;
  if (!ids.length) { node.replaceChildren(); return; }
  const chart = TL.el("div", { class: "chart", id: "curves" });
  const diffBox = TL.el("div", { id: "diff" });
  const metric = TL.el("select", { id: "metric", on: { change: () => { s.metric = metric.value; draw(); } } },
    ["val_acc", "train_acc", "val_loss", "train_loss", "lr"].map((m) => TL.el("option", { selected: m === s.metric }, m)));
  const x = TL.el("select", { id: "xaxis", on: { change: () => { s.x = x.value; draw(); } } },
    ["epoch", "step", "seconds"].map((m) => TL.el("option", { selected: m === s.x }, m)));
  const log = TL.el("input", { type: "checkbox", checked: s.log, on: { change: () => { s.log = log.checked; draw(); } } });
  const smooth = TL.el("input", { type: "range", min: 0, max: 0.95, step: 0.05, value: s.smooth,
    on: { input: () => { s.smooth = +smooth.value; draw(); } } });
  node.replaceChildren(
    TL.el("div", { class: "controls" }, TL.el("label", {}, "metric", metric), TL.el("label", {}, "x", x),
      TL.el("label", {}, log, "log y"), TL.el("label", {}, "smoothing", smooth)),
    chart, TL.el("h2", {}, "Config differences"), diffBox);
  let series = [];
  async function fetchCurves() {
    try { series = await TL.api("/api/curves", { ids: ids.join(","), metric: s.metric }); }
    catch (err) { TL.fail(chart, err); return; }
    plot();
  }
  function plot() {
    const traces = series.map((r, i) => ({
      x: r[s.x], y: TL.smooth(r.y, s.smooth), name: (r.status === "running" ? "● " : "") + r.name + " · " + r.id,
      mode: r.status === "running" ? "lines+markers" : "lines", type: "scatter",
      line: { color: TL.color(i), dash: r.status === "running" ? "dot" : "solid" },
    }));
    TL.plot(chart, traces, { xaxis: { title: { text: s.x } }, yaxis: { title: { text: s.metric }, type: s.log ? "log" : "linear" } });
    const running = series.filter((r) => r.status === "running").length;
    document.getElementById("live").textContent = running ? `live: ${running} running` : "";
  }
  async function draw() { await fetchCurves(); }
  async function diff() {
    try {
      const d = await TL.api("/api/diff", { ids: ids.join(",") });
      diffBox.replaceChildren(d.fields.length
        ? TL.table(["field", ...d.ids], d.fields.map((f) => [f.field, ...f.values]))
        : TL.el("p", { class: "muted" }, "the selected runs have the same config"),
        TL.el("p", { class: "muted" }, `${d.same} fields are the same in all selected runs`));
    } catch (err) { TL.fail(diffBox, err); }
  }
  if (TL.compareTimer) clearInterval(TL.compareTimer);
  TL.compareTimer = TL.every(1000, () => { if (series.some((r) => r.status === "running") || !series.length) fetchCurves(); });
  fetchCurves(); diff();
};
