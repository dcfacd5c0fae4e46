/* One run: status, config, environment, epoch table and curves, flight-record charts, artifacts. */
"use strict";
TL.pages.run = async function (main, [id]) {
  const box = TL.el("div", {});
  main.append(box);
  let last = -1, lastStatus = "";
  async function load() {
    let r;
    try { r = await TL.api("/api/run/" + encodeURIComponent(id)); } catch (err) { TL.fail(box, err); return; }
    if (r.epochs.length === last && r.status === lastStatus) return;
    last = r.epochs.length;
    lastStatus = r.status;
    const loss = TL.el("div", { class: "chart small", id: "run-loss" });
    const acc = TL.el("div", { class: "chart small", id: "run-acc" });
    const keys = r.epochs.length ? Object.keys(r.epochs[0]) : [];
    const metrics = Object.entries(r.summary).filter(([, v]) => typeof v === "number");
    const flat = (o, pre) => Object.entries(o).flatMap(([k, v]) =>
      v && typeof v === "object" && !Array.isArray(v) && Object.keys(v).length ? flat(v, pre + k + ".") : [[pre + k, v]]);
    const parts = [
      TL.el("h1", {}, r.name, " ", TL.badge(r.status)),
      TL.el("p", { class: "muted" }, `run ${r.id} · seed ${r.seed} · config ${r.config_hash.slice(0, 12)} · created ${TL.when(r.created)}`
        + (r.ended ? ` · ${TL.duration(r.ended - r.created)}` : "")),
      r.error ? TL.el("p", { class: "error" }, r.error) : null,
      r.studies.length ? TL.el("p", {}, "in ", r.studies.map((s, i) => [i ? ", " : "",
        TL.el("a", { href: "#/study/" + encodeURIComponent(s.id) }, s.name), ` (${s.variant}${s.role ? ", " + s.role : ""})`])) : null,
      TL.el("div", { class: "grid" }, TL.el("div", { class: "panel" }, loss), TL.el("div", { class: "panel" }, acc)),
      TL.el("h2", {}, "Final metrics"), TL.table(["metric", "value"], metrics),
      TL.el("h2", {}, "Epochs"), TL.table(keys, r.epochs.map((e) => keys.map((k) => e[k]))),
      TL.el("h2", {}, "Config"), TL.table(["field", "value"], flat(r.config, "")),
    ];
    if (r.record) {
      parts.push(TL.el("h2", {}, `Flight record (every ${r.record.every} steps)`));
      const grid = TL.el("div", { class: "grid" });
      parts.push(grid);
      r.flightCharts = Object.keys(r.record.stats).map((stat) => {
        const n = TL.el("div", { class: "chart small" });
        grid.append(TL.el("div", { class: "panel" }, n));
        return [n, stat];
      });
    }
    parts.push(TL.el("h2", {}, "Artifacts"), r.artifacts.length ? TL.table(["file", "bytes"], r.artifacts.map((a) =>
      [TL.el("a", { href: `/files/runs/${encodeURIComponent(r.id)}/${a.path.split("/").map(encodeURIComponent).join("/")}` }, a.path), a.bytes]))
      : TL.el("p", { class: "muted" }, "no files"));
    parts.push(TL.el("h2", {}, "Environment"), TL.table(["field", "value"], flat(r.env, "")));
    box.replaceChildren(...parts.filter(Boolean));
    const ep = r.epochs.map((e) => e.epoch);
    const line = (k, i) => ({ x: ep, y: r.epochs.map((e) => e[k]), name: k, mode: "lines+markers", type: "scatter", line: { color: TL.color(i) } });
    // a regression's errors beside its loss; every other validation metric (f1_macro, r2, ...) beside accuracy
    const errors = ["val_rmse", "val_mae"].filter((k) => keys.includes(k));
    const others = keys.filter((k) => k.startsWith("val_") && !["val_loss", "val_acc", ...errors].includes(k));
    TL.plot(loss, ["train_loss", "val_loss", ...errors].filter((k) => keys.includes(k)).map(line), { yaxis: { title: { text: errors.length ? "loss; rmse, mae (target units)" : "loss" } }, xaxis: { title: { text: "epoch" } } });
    TL.plot(acc, ["train_acc", "val_acc", ...others].filter((k) => keys.includes(k)).map(line), { yaxis: { title: { text: others.length ? "accuracy and other metrics" : "accuracy" } }, xaxis: { title: { text: "epoch" } } });
    (r.flightCharts || []).forEach(([n, stat]) => TL.plot(n, r.record.layers.map((layer, i) => ({
      x: r.record.steps, y: r.record.stats[stat][i], name: layer, mode: "lines", type: "scatter", line: { color: TL.color(i) } })),
      { xaxis: { title: { text: "step" } }, yaxis: { title: { text: stat }, type: stat === "act_near_zero" ? "linear" : "log" } }));
  }
  load();
  TL.every(1500, () => { if (last >= 0) load(); });
};
