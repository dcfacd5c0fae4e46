/* Studies: the list; one study (answers, verdicts, tables, figures, progress); a search's
   optimisation history, parallel coordinates (lines link to runs) and importances. */
"use strict";
TL.pages.studies = async function (main) {
  main.append(TL.el("h1", {}, "Studies, searches and inspections"));
  const box = TL.el("div", { class: "panel" });
  main.append(box);
  async function load() {
    try {
      const rows = await TL.api("/api/studies");
      box.replaceChildren(rows.length ? TL.table(["study", "kind", "status", "runs", "created", "title"], rows.map((r) => [
        TL.el("a", { href: "#/study/" + encodeURIComponent(r.id) }, r.name), r.kind, TL.badge(r.status), r.runs,
        TL.when(r.created), r.title || ""])) : TL.el("p", { class: "muted" }, "no studies in this store yet"));
    } catch (err) { TL.fail(box, err); }
  }
  load();
  TL.every(5000, load);
};

TL.studyFile = (id, file) => `/files/studies/${encodeURIComponent(id)}/${file.split("/").map(encodeURIComponent).join("/")}`;

TL.tone = function (text) {
  const t = text.toLowerCase();
  if (/within noise|not significant|inconclusive|no verdict possible/.test(t)) return "";
  if (/worse|slower|diverged|failed/.test(t)) return "worse";
  if (/better|faster|wins/.test(t)) return "better";
  return "";
};

TL.pages.study = async function (main, [ref]) {
  const head = TL.el("div", {}), body = TL.el("div", {});
  main.append(head, body);
  let drawn = false;
  async function load() {
    let st;
    try { st = await TL.api("/api/study/" + encodeURIComponent(ref)); } catch (err) { TL.fail(head, err); return; }
    const p = st.progress, sum = st.summary || {};
    const pct = p.total ? Math.round((100 * p.done) / p.total) : 0;
    head.replaceChildren(TL.el("h1", {}, sum.title || st.name),
      TL.el("p", { class: "muted" }, `${st.kind} · `, TL.badge(st.status), ` · created ${TL.when(st.created)}`),
      TL.el("div", { class: "panel", id: "progress" },
        TL.el("div", {}, `${p.done} / ${p.total} runs done` + (p.running ? `, ${p.running} running` : "")
          + (p.eta_s !== null && p.eta_s !== undefined ? ` · ETA ${TL.duration(p.eta_s)}` : "")),
        TL.el("div", { class: "bar" }, TL.el("span", { style: null }))));
    head.querySelector(".bar > span").style.width = pct + "%";
    if (drawn && st.status !== "running") return;
    drawn = true;
    const parts = [];
    if ((sum.answers || []).length) parts.push(TL.el("h2", {}, "Answers"), TL.el("ul", {}, sum.answers.map((a) => TL.el("li", {}, a))));
    if ((sum.verdicts || []).length) parts.push(TL.el("h2", {}, "Verdicts"),
      TL.el("ul", { class: "verdicts" }, sum.verdicts.map((v) => TL.el("li", { class: TL.tone(v) }, v))));
    parts.push(...TL.acrossSeeds((sum.data || {}).across_seeds));
    (sum.text || []).forEach((t) => parts.push(TL.el("p", {}, t)));
    if (st.kind === "search") parts.push(TL.el("div", { id: "search" }));
    const files = (stem, kinds) => kinds.flatMap(([ext, label], j) =>
      [j ? " · " : "", TL.el("a", { href: TL.studyFile(st.id, stem + ext), download: "" }, label)]);
    (sum.tables || []).forEach((t, i) => parts.push(TL.el("h2", {}, `Table ${i + 1}. ${t.title}`),
      TL.table(t.columns, t.rows), t.note ? TL.el("p", { class: "muted" }, t.note) : null,
      t.file ? TL.el("p", { class: "muted files" }, "download: ", ...files(t.file, [[".csv", "CSV"], [".tex", "LaTeX"], [".md", "Markdown"]])) : null));
    if ((sum.figures || []).length) parts.push(TL.el("h2", {}, "Figures"), TL.el("div", { class: "grid" },
      sum.figures.map((f, i) => TL.el("figure", {},
        TL.el("a", { href: TL.studyFile(st.id, f.file), target: "_blank", title: "full size" },
          TL.el("img", { src: TL.studyFile(st.id, f.file), alt: f.title, loading: "lazy" })),
        TL.el("figcaption", {}, `Figure ${i + 1}. ${f.title}` + (f.caption ? ` — ${f.caption}` : ""),
          " · ", ...files(f.file.replace(/\.png$/, ""), [[".svg", "SVG"], [".pdf", "PDF"]]))))));
    parts.push(TL.el("h2", {}, "Runs"), TL.table(["run", "variant", "role", "status", "seed", "val_acc", "test_acc"],
      st.runs.map((r) => [TL.runLink(r.id), r.variant, r.role, TL.badge(r.status), r.seed, r.val_acc, r.test_acc])));
    body.replaceChildren(...parts.filter(Boolean));
    if (st.kind === "search") TL.search(document.getElementById("search"), st.id);
  }
  load();
  TL.every(3000, load);
};

/* The seeds of each variant compared, as the study stored them (trainlab.inspect.seeds): a
   sentence and a small table per variant, beside the verdicts. */
TL.acrossSeeds = function (stored) {
  if (!stored) return [];
  const cards = (stored.variants || []).map((v) => {
    const rows = v.cka.map((r) => [r.layer, r.mean, r.min]);
    if (v.attribution) rows.push([`attribution maps (${v.attribution.method}, ρ)`, v.attribution.mean, v.attribution.min]);
    return TL.el("div", { class: "panel seed" }, TL.el("h3", {}, `${v.variant} · ${v.seeds.length} seeds`),
      TL.el("p", {}, v.sentence), TL.table(["layer", `mean (${v.pairs} pairs)`, "min"], rows, [false, true, true]));
  });
  const left = (stored.skipped || []).map((s) => `${s.variant}: ${s.reason}`);
  return [TL.el("h2", {}, "Across seeds"), TL.el("div", { class: "grid seeds" }, cards),
    TL.el("p", { class: "muted" }, (stored.how || "") + (left.length ? "; not compared: " + left.join("; ") : "") + ".")];
};

TL.search = async function (node, id) {
  let s;
  try { s = await TL.api("/api/search/" + encodeURIComponent(id)); } catch (err) { TL.fail(node, err); return; }
  const done = s.trials.filter((t) => t.value !== null && t.value !== undefined);
  const hist = TL.el("div", { class: "chart small", id: "history" });
  const imp = TL.el("div", { class: "chart small", id: "importances" });
  node.replaceChildren(TL.el("h2", {}, "Optimisation history"), hist,
    TL.el("h2", {}, "Parallel coordinates"), TL.el("p", { class: "muted" }, "each line is a trial; click one to open its run"),
    TL.parcoords(done, s.params, s.metric), TL.el("h2", {}, "Importances"), imp);
  const svgNode = node.querySelector("svg.parcoords");
  svgNode.before(TL.el("button", { on: { click: () => {
    const blob = new Blob([new XMLSerializer().serializeToString(svgNode)], { type: "image/svg+xml" });
    const a = TL.el("a", { href: URL.createObjectURL(blob), download: "parallel-coordinates.svg" });
    a.click();
    setTimeout(() => URL.revokeObjectURL(a.href), 1000);
  } } }, "Download SVG"));
  const max = s.direction === "maximize";
  let best = null;
  const bestLine = done.map((t) => (best = best === null ? t.value : max ? Math.max(best, t.value) : Math.min(best, t.value)));
  TL.plot(hist, [
    { x: done.map((t) => t.number), y: done.map((t) => t.value), mode: "markers", name: "trial", type: "scatter",
      text: done.map((t) => t.run_id || ""), marker: { color: TL.color(0) } },
    { x: done.map((t) => t.number), y: bestLine, mode: "lines", name: "best so far", type: "scatter", line: { shape: "hv", color: TL.color(1) } },
  ], { xaxis: { title: { text: "trial" }, dtick: done.length <= 20 ? 1 : undefined }, yaxis: { title: { text: s.metric } } });
  hist.on("plotly_click", (ev) => { const run = ev.points[0].text; if (run) location.hash = "#/run/" + run; });
  const names = Object.keys(s.importances || {});
  if (names.length) TL.plot(imp, [{ type: "bar", orientation: "h", x: names.map((n) => s.importances[n]), y: names,
    marker: { color: TL.color(0) } }], { margin: { l: 120, r: 15, t: 10, b: 40 }, xaxis: { title: { text: "importance" } } });
  else imp.replaceWith(TL.el("p", { class: "muted" }, "no importances stored: they need complete trials that vary at least two parameters"));
};

/* Parallel coordinates drawn as SVG (plotly's parcoords needs eval, which our CSP forbids). */
TL.parcoords = function (trials, params, metric) {
  const ns = "http://www.w3.org/2000/svg";
  const axes = [...params, metric];
  const W = Math.max(320, 130 * axes.length), H = 260, top = 30, bottom = 30;
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.setAttribute("class", "parcoords");
  svg.setAttribute("width", W);
  svg.setAttribute("height", H);
  const value = (t, a) => (a === metric ? t.value : t.params[a]);
  const scales = axes.map((a) => {
    const vals = trials.map((t) => value(t, a));
    if (vals.every((v) => typeof v === "number")) {
      const logScale = vals.every((v) => v > 0) && Math.max(...vals) / Math.min(...vals) > 50;
      const f = logScale ? Math.log10 : (v) => v;
      const lo = Math.min(...vals.map(f)), hi = Math.max(...vals.map(f));
      return { f: (v) => (hi > lo ? (f(v) - lo) / (hi - lo) : 0.5), ticks: [Math.min(...vals), Math.max(...vals)] };
    }
    const cats = [...new Set(vals.map(String))].sort();
    return { f: (v) => (cats.length > 1 ? cats.indexOf(String(v)) / (cats.length - 1) : 0.5), ticks: [cats[0], cats[cats.length - 1]] };
  });
  const xs = axes.map((_, i) => 50 + (i * (W - 100)) / Math.max(axes.length - 1, 1));
  const y = (u) => H - bottom - u * (H - top - bottom);
  const vals = trials.map((t) => t.value), vlo = Math.min(...vals), vhi = Math.max(...vals);
  const add = (tag, attrs, text) => {
    const n = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v);
    if (text !== undefined) n.textContent = text;
    svg.appendChild(n);
    return n;
  };
  trials.forEach((t) => {
    const d = axes.map((a, i) => `${i ? "L" : "M"}${xs[i].toFixed(1)},${y(scales[i].f(value(t, a))).toFixed(1)}`).join("");
    const u = vhi > vlo ? (t.value - vlo) / (vhi - vlo) : 0.5;
    const p = add("path", { d, stroke: `hsl(${Math.round(220 - 200 * u)},65%,45%)`, "data-run": t.run_id || "" });
    const title = document.createElementNS(ns, "title");
    title.textContent = `trial ${t.number}: ${metric}=${TL.fmt(t.value)}` + (t.run_id ? ` (run ${t.run_id})` : "");
    p.appendChild(title);
    if (t.run_id) p.addEventListener("click", () => { location.hash = "#/run/" + t.run_id; });
  });
  axes.forEach((a, i) => {
    add("line", { x1: xs[i], x2: xs[i], y1: top, y2: H - bottom, stroke: "#555" });
    add("text", { x: xs[i], y: 16, "text-anchor": "middle" }, a);
    add("text", { x: xs[i] + 4, y: H - bottom + 14 }, TL.fmt(scales[i].ticks[0]));
    add("text", { x: xs[i] + 4, y: top - 2 }, TL.fmt(scales[i].ticks[1]));
  });
  return TL.el("div", { class: "scroll" }, svg);
};
