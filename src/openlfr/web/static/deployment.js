"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const box = document.getElementById("dep"), ref = box.dataset.ref, role = box.dataset.role;
  const $ = (id) => document.getElementById(id);
  const dl = (node, pairs) => node.replaceChildren(...pairs.flatMap(([k, v]) => [OL.el("dt", {text: k}), OL.el("dd", {text: v ?? "–"})]));
  const g3 = (v) => (v === null || v === undefined) ? "unknown" : Number(Number(v).toPrecision(3)).toLocaleString("en-GB", {maximumSignificantDigits: 3});
  const how = (op) => op.source === "target_fpir" ? `from target FPIR ${op.target_fpir} at ${OL.fmtNum(op.watchlist_size)} people` :
    (op.source === "override" ? "explicit threshold (override)" : "model's fixed default");
  const opPairs = (op) => [["Watchlist size", `${OL.fmtNum(op.watchlist_size)} people`],
    ["Threshold", `${Number(op.threshold).toFixed(4)} (${how(op)})`],
    ["Expected false alerts per 10,000 faces", op.expected_false_alerts_per_10000 === null ? "unknown (no calibration)" :
      `${g3(op.expected_false_alerts_per_10000)} (95% upper bound ${g3(op.expected_false_alerts_per_10000_upper)})`],
    ["Expected TPIR", op.expected_tpir === null ? `unknown: ${op.tpir_reason}` :
      `${(100 * op.expected_tpir).toFixed(1)}% of watchlisted people found (${op.tpir_reason})`],
    ["Calibration", op.calibration ? `${op.calibration.file} (${OL.fmtNum(op.calibration.impostor_comparisons)} impostor comparisons)` : "none"]];
  let opTimer = null, lastPreview = null;
  function chosen() {
    const f = $("authorise-form").elements, th = f.threshold.value.trim(), tf = f.target_fpir.value.trim();
    return th ? {threshold: Number(th)} : (tf ? {target_fpir: Number(tf)} : {});
  }
  function renderOp(op, err) {
    if (err) { $("op-figures").replaceChildren(); $("op-verdict").className = "verdict unsafe"; $("op-verdict").textContent = `${err.message} (${err.code})`; return; }
    dl($("op-figures"), opPairs(op));
    const g = op.guardrail, band = `safe band: ${g3(g.band.false_alerts_per_10000_min)} to ${g3(g.band.false_alerts_per_10000_max)} false alerts per 10,000 faces (FPIR ${g.band.fpir_min} to ${g.band.fpir_max})`;
    $("op-verdict").className = "verdict " + (g.safe ? "safe" : "unsafe");
    $("op-verdict").textContent = g.safe ? `Inside the ${band}.` :
      `Outside the ${band}: ${g.problems.join("; ")}. Authorising needs a written justification of at least ${g.min_justification_chars} characters.`;
    $("just-label").classList.toggle("required", !g.safe);
  }
  async function preview(d) {
    const c = chosen();
    if (!Object.keys(c).length) { renderOp(d.operating_point_preview, d.operating_point_error); return; }
    const key = JSON.stringify(c);
    if (key === lastPreview && d) return;
    try { renderOp(await OL.api("GET", `/api/deployments/${ref}/operating-point?` + new URLSearchParams(c)), null); lastPreview = key; }
    catch (err) { renderOp(null, {code: err.code, message: err.message}); lastPreview = null; }
  }
  async function act(fn) { OL.clearError("dep-error"); try { await fn(); } catch (err) { OL.showError("dep-error", err); } await load(); }
  async function load() {
    const d = await OL.api("GET", `/api/deployments/${ref}`);
    $("dep-title").textContent = `Deployment ${d.id}: ${d.name}`;
    $("dep-state").className = "state " + d.state; $("dep-state").textContent = d.state;
    $("dep-running").textContent = d.live && d.live.running ? "cameras running on this server" : (d.live && d.live.error ? `runner stopped: ${d.live.error}` : "");
    $("authorise-form").hidden = !(d.state === "draft" && role === "supervisor");
    $("op-card").hidden = d.state !== "draft";
    if (d.state === "draft") { lastPreview = null; await preview(d); }
    const op = d.operating_point;
    $("start-btn").hidden = !(["authorised", "live"].includes(d.state) && ["supervisor", "operator"].includes(role) && !(d.live && d.live.running));
    $("stop-btn").hidden = !(d.state !== "ended" && ["admin", "supervisor", "operator"].includes(role));
    dl($("details"), [["Location", d.location], ["Coordinates", d.latitude !== null ? `${d.latitude}, ${d.longitude}` : null], ["Purpose", d.purpose],
      ["Legal basis", d.legal_basis], ["Planned", `${OL.fmtTime(d.planned_start)} → ${OL.fmtTime(d.planned_end)}`],
      ["Watchlist", `${d.watchlist || "–"} copied from ${d.source_watchlist} · ${d.watchlist_size ?? "?"} people${d.watchlist_deleted_at ? " · deleted " + OL.fmtTime(d.watchlist_deleted_at) : ""}`],
      ["Threshold", op ? `${Number(op.threshold).toFixed(4)} (${how(op)})` : (d.threshold === null ? `from target FPIR ${d.target_fpir}, fixed at authorisation` : `${Number(d.threshold).toFixed(4)} (override), fixed at authorisation`)],
      ...(op ? [["Expected false alerts per 10,000 faces", g3(op.expected_false_alerts_per_10000)], ["Expected TPIR", op.expected_tpir === null ? "unknown" : `${(100 * op.expected_tpir).toFixed(1)}%`],
        ["Safe band", op.guardrail.safe ? "inside" : `outside; justification: ${d.justification}`]] : []),
      ["Models", `${d.models.detector} / ${d.models.embedder}`],
      ["Created", `${d.created_by}, ${OL.fmtTime(d.created_at)}`], ["Authorised", d.authorised_by ? `${d.authorising_officer} (${d.authorised_by}), ${OL.fmtTime(d.authorised_at)}` : null],
      ["Started", d.started_at ? `${d.started_by}, ${OL.fmtTime(d.started_at)}` : null], ["Ended", d.ended_at ? `${d.ended_by}, ${OL.fmtTime(d.ended_at)} (${d.end_reason})` : null]]);
    const s = d.statistics || {};
    dl($("stats"), [["Faces seen", OL.fmtNum(s.faces_seen)], ["Quality-rejected", OL.fmtNum(s.quality_rejected)], ["Alerts", OL.fmtNum(s.alerts)],
      ["True / false / open", `${OL.fmtNum(s.true_alerts)} / ${OL.fmtNum(s.false_alerts)} / ${OL.fmtNum(s.unadjudicated)}`],
      ["Frames analysed", OL.fmtNum(s.frames_analysed)], ["Live for", s.deployment_live_seconds ? `${OL.fmtNum(s.deployment_live_seconds / 60, 1)} min` : "–"],
      ["Frozen", d.statistics_frozen ? "yes (deployment ended)" : "no"]]);
    const live = new Map(((d.live && d.live.cameras) || []).map((c) => [c.camera, c]));
    const over = d.state === "live" && d.cameras.length > 0 && d.cameras.every((c) => (live.get(c.name) || {}).state === "ended");
    $("dep-sources-ended").hidden = !over;
    $("dep-sources-ended").textContent = over ? `Every source has ended (${d.cameras.map((c) => c.name).join(", ")}: the file played to its end): nothing is being analysed. The deployment stays live until it is ended; end it to freeze its figures and delete its watchlist.` : "";
    $("cam-table").querySelector("tbody").replaceChildren(...d.cameras.map((c) => {
      const l = live.get(c.name) || {counters: {}}, pc = (s.per_camera || {})[c.name] || {};
      return OL.el("tr", {}, OL.el("td", {text: c.name}), OL.el("td", {text: c.url}), OL.el("td", {}, OL.el("span", {class: "state " + (l.state || ""), text: l.state || "–"}), l.detail ? OL.el("div", {class: "muted cam-detail", text: l.detail}) : null),
        OL.el("td", {class: "num", text: OL.fmtNum(l.counters.frames_analysed ?? pc.frames_analysed)}), OL.el("td", {class: "num", text: OL.fmtNum(l.counters.faces_seen ?? pc.faces_seen)}),
        OL.el("td", {class: "num", text: OL.fmtNum(pc.alerts)}));
    }));
  }
  $("authorise-form").addEventListener("submit", (e) => {
    e.preventDefault(); const f = e.target.elements;
    const body = {officer: f.officer.value, note: f.note.value, justification: f.justification.value, ...chosen()};
    if (f.legal_basis.value.trim()) body.legal_basis = f.legal_basis.value;
    act(() => OL.api("POST", `/api/deployments/${ref}/authorise`, body));
  });
  for (const name of ["target_fpir", "threshold"]) {
    $("authorise-form").elements[name].addEventListener("input", () => { clearTimeout(opTimer); opTimer = setTimeout(() => { lastPreview = null; OL.api("GET", `/api/deployments/${ref}`).then(preview); }, 250); });
  }
  $("start-btn").addEventListener("click", () => act(() => OL.api("POST", `/api/deployments/${ref}/start`)));
  $("stop-btn").addEventListener("click", () => { if (confirm("End this deployment? Its cameras stop and its watchlist is deleted.")) act(() => OL.api("POST", `/api/deployments/${ref}/stop`)); });
  load(); setInterval(load, 3000);
});
