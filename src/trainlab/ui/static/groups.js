/* Groups page: runs grouped by config field(s); a mean line and 95% CI band per group over its
   runs (seeds), individual traces on toggle, and a summary value per group (last / best / epoch k). */
"use strict";
TL.groupsState = { q: "", by: "seed", metric: "val_acc", how: "last", k: "", traces: false };

TL.pages.groups = function (main, args) {
  const s = TL.groupsState;
  if (args[0]) s.q = args[0];
  const query = TL.el("input", { type: "search", class: "query", id: "group-filter", value: s.q,
    placeholder: "which runs: data.name=digits and status=finished", "aria-label": "filter" });
  const by = TL.el("input", { type: "text", id: "group-by", value: s.by, placeholder: "group by: optim.name, seed",
    "aria-label": "group by" });
  const metric = TL.el("select", { id: "group-metric" },
    ["val_acc", "train_acc", "val_loss", "train_loss"].map((m) => TL.el("option", { selected: m === s.metric }, m)));
  const how = TL.el("select", { id: "group-how" },
    [["last", "last"], ["best", "best"], ["epoch", "at epoch k"]].map(([v, t]) => TL.el("option", { value: v, selected: v === s.how }, t)));
  const k = TL.el("input", { type: "text", id: "group-k", value: s.k, placeholder: "k", size: 3, "aria-label": "epoch k" });
  const traces = TL.el("input", { type: "checkbox", id: "group-traces", checked: s.traces });
  const error = TL.el("div", { class: "error", id: "group-error" });
  const chart = TL.el("div", { class: "chart", id: "group-chart" });
  const summary = TL.el("div", { id: "group-summary" });
  const form = TL.el("form", { class: "controls", on: { submit: (e) => { e.preventDefault(); read(); load(); } } },
    query, TL.el("label", {}, "by", by), TL.el("label", {}, "metric", metric), TL.el("label", {}, "summary", how, k),
    TL.el("label", {}, traces, "individual runs"), TL.el("button", { class: "primary", type: "submit" }, "Group"));
  [metric, how, traces].forEach((n) => n.addEventListener("change", () => { read(); load(); }));
  main.append(TL.el("h1", {}, "Groups"), TL.el("p", { class: "muted" },
    "One line per group: the mean over its runs with a 95% t-interval band (clipped to the metric's range). ",
    "Grouping by seed alone puts runs that differ only in their seed together. ",
    "With two fields or more, colour follows the first field and line style the second."),
    TL.el("div", { class: "panel" }, form, error, chart, summary));

  function read() {
    Object.assign(s, { q: query.value, by: by.value, metric: metric.value, how: how.value, k: k.value, traces: traces.checked });
  }
  async function load() {
    let data;
    try { data = await TL.api("/api/groups", { q: s.q, by: s.by, metric: s.metric, how: s.how, k: s.k }); }
    catch (err) { error.textContent = err.message; return; }
    error.textContent = "";
    const out = [], named = Object.keys((data.groups[0] || {}).fields || {});
    const levels = (f) => [...new Set(data.groups.map((g) => JSON.stringify(g.fields[f])))];
    const hue = named.length > 1 ? levels(named[0]) : null, dashes = named.length > 1 ? levels(named[1]) : null;
    data.groups.forEach((g, i) => {
      const c = TL.color(hue ? hue.indexOf(JSON.stringify(g.fields[named[0]])) : i), label = `${g.label} (n=${g.n})`;
      const dash = dashes ? TL.DASHES[dashes.indexOf(JSON.stringify(g.fields[named[1]])) % TL.DASHES.length] : "solid";
      out.push({ x: g.band.epoch, y: g.band.lo, mode: "lines", line: { width: 0, color: c }, hoverinfo: "skip",
                 showlegend: false, legendgroup: String(i), type: "scatter" });
      out.push({ x: g.band.epoch, y: g.band.hi, mode: "lines", line: { width: 0, color: c }, fill: "tonexty",
                 fillcolor: c + "33", hoverinfo: "skip", showlegend: false, legendgroup: String(i), type: "scatter" });
      out.push({ x: g.band.epoch, y: g.band.mean, mode: "lines", name: label, line: { color: c, width: 2.5, dash },
                 legendgroup: String(i), type: "scatter" });
      if (s.traces) g.traces.forEach((t) => out.push({ x: t.epoch, y: t.y, mode: "lines", showlegend: false,
        line: { color: c, width: 1, dash }, opacity: 0.45, name: t.id, legendgroup: String(i), type: "scatter" }));
    });
    TL.plot(chart, out, { xaxis: { title: { text: "epoch" } }, yaxis: { title: { text: s.metric } } });
    const what = s.how === "epoch" ? `at epoch ${s.k}` : s.how;
    summary.replaceChildren(TL.table(["group", "n", `${s.metric} (${what}) mean`, "95% CI", "running", "runs"],
      data.groups.map((g) => [g.label, g.n, g.summary ? g.summary.mean : "",
        g.summary ? `${TL.fmt(g.summary.lo)} – ${TL.fmt(g.summary.hi)}` : "", g.running,
        TL.el("span", {}, g.runs.map((r, j) => [j ? " " : "", TL.runLink(r.id)]))])),
      TL.el("p", { class: "muted" }, `${data.groups.length} groups; mean of n runs, 95% t-interval over runs`));
  }
  load();
  TL.every(2000, () => { if (chart.data && document.getElementById("group-summary")) load(); });
};
