"use strict";
document.addEventListener("DOMContentLoaded", async () => {
  const info = await OL.api("GET", "/api/evaluation");
  if (info.calibration) {
    const c = info.calibration, t = c.threshold_for_fpir || {};
    document.getElementById("plan-form").before(OL.el("p", {class: "muted", text: `Calibration of ${c.family}: ${OL.fmtNum(c.comparisons.impostor)} impostor comparisons. Threshold for FPIR 1e-3 at N=1000: ${t["1000"] ? t["1000"]["0.001"] : "–"}.`}));
  }
  if (info.det_plot) { const img = document.getElementById("det"); img.src = "/api/evaluation/det.png?t=" + Date.now(); img.hidden = false; img.title = `${info.det_plot.name}, ${OL.fmtTime(info.det_plot.modified)}`; }
  else { const p = document.getElementById("det-missing"); p.textContent = `No DET plot yet. ${info.how}.`; p.hidden = false; }
  const form = document.getElementById("plan-form"), out = document.getElementById("plan-out");
  const fig = (k, v, sub) => OL.el("div", {class: "figure"}, OL.el("div", {class: "k", text: k}), OL.el("div", {class: "v", text: v}), OL.el("div", {class: "ci", text: sub || ""}));
  // only the newest calculation may show its figures: a slower, older answer (the one asked for when the page
  // opened, or one asked for before an input changed) is dropped when it arrives
  let latest = 0;
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const mine = ++latest;
    const f = form.elements, num = (x) => x.value === "" ? null : Number(x.value);
    const useThr = f.threshold.value !== "" && f.fpir.value === "";
    const body = {faces: num(f.faces), watchlist_size: num(f.watchlist_size), prevalence: num(f.prevalence), tpir: num(f.tpir),
      threshold: num(f.threshold), fpir: num(f.fpir), fmr: (f.fpir.value === "" && !useThr) ? num(f.fmr) : null};
    out.replaceChildren();
    try {
      const r = await OL.api("POST", "/api/evaluation/plan", body);
      if (mine !== latest) return;
      out.replaceChildren(fig("FPIR used", OL.fmtRate(r.fpir.value), r.source), fig("Expected false alerts", OL.fmtNum(r.expected_false_alerts.value, 1)),
        fig("Expected true alerts", OL.fmtNum(r.expected_true_alerts.value, 1)), fig("TPIR used", OL.fmtRate(r.tpir.value)), fig("Expected precision", OL.fmtRate(r.expected_precision.value)),
        fig("False alerts per face seen", OL.fmtRate(r.false_alerts_per_face_seen), OL.oneIn(r.false_alerts_per_face_seen)),
        fig("Share of alerts wrong", OL.fmtRate(r.share_of_alerts_wrong)),
        ...(r.notes || []).map((n) => OL.el("p", {class: "muted", text: n})));
    } catch (err) { if (mine === latest) out.replaceChildren(OL.el("p", {class: "error", text: err.message})); }
  });
  // a changed input makes the figures shown stale: clear them until the next calculation
  form.addEventListener("input", () => { latest++; out.replaceChildren(OL.el("p", {class: "muted stale", text: "Inputs changed: press Calculate."})); });
  form.requestSubmit();
});
