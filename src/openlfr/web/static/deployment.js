"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const box = document.getElementById("dep"), ref = box.dataset.ref, role = box.dataset.role;
  const $ = (id) => document.getElementById(id);
  const dl = (node, pairs) => node.replaceChildren(...pairs.flatMap(([k, v]) => [OL.el("dt", {text: k}), OL.el("dd", {text: v ?? "–"})]));
  const g3 = (v) => (v === null || v === undefined) ? "unknown" : Number(Number(v).toPrecision(3)).toLocaleString("en-GB", {maximumSignificantDigits: 3});
  const how = (op) => op.source === "target_fpir" ? `from target FPIR ${OL.fmtRate(op.target_fpir)} at ${OL.fmtNum(op.watchlist_size)} people` :
    (op.source === "override" ? "explicit threshold (override)" : "model's fixed default");
  const opPairs = (op) => [["Watchlist size", `${OL.fmtNum(op.watchlist_size)} people`],
    ["Threshold", `${OL.fmtThreshold(op.threshold)} (${how(op)})`],
    ["Expected false alerts per 10,000 faces", op.expected_false_alerts_per_10000 === null ? "unknown (no calibration)" :
      `${g3(op.expected_false_alerts_per_10000)} (95% upper bound ${g3(op.expected_false_alerts_per_10000_upper)})`],
    ["Expected TPIR", op.expected_tpir === null ? `unknown: ${op.tpir_reason}` :
      `${OL.fmtRate(op.expected_tpir)} of watchlisted people found (${op.tpir_reason})`],
    ["Calibration", op.calibration ? `${op.calibration.file} (${OL.fmtNum(op.calibration.impostor_comparisons)} impostor comparisons)` : "none"]];
  let opTimer = null, lastPreview = null, lastStats = null;
  function chosen() {
    const f = $("authorise-form").elements, th = f.threshold.value.trim(), tf = f.target_fpir.value.trim();
    return th ? {threshold: Number(th)} : (tf ? {target_fpir: Number(tf)} : {});
  }
  function renderOp(op, err) {
    if (err || !op) { $("op-figures").replaceChildren(); $("op-verdict").className = "verdict unsafe"; $("op-verdict").textContent = err ? OL.human(err) : ""; return; }
    dl($("op-figures"), opPairs(op));
    const g = op.guardrail, band = `safe band: ${g3(g.band.false_alerts_per_10000_min)} to ${g3(g.band.false_alerts_per_10000_max)} false alerts per 10,000 faces (FPIR ${OL.fmtRate(g.band.fpir_min)} to ${OL.fmtRate(g.band.fpir_max)})`;
    $("op-verdict").className = "verdict " + (g.safe ? "safe" : "unsafe");
    $("op-verdict").textContent = g.safe ? `Inside the ${band}.` :
      `Outside the ${band}: ${g.problems.join("; ")}. Authorising needs a written justification of at least ${g.min_justification_chars} characters.`;
    $("just-label").classList.toggle("required", !g.safe);
  }
  async function preview(d) {
    if (!d || d.state !== "draft") return;  // authorised meanwhile: nothing to preview
    const c = chosen();
    if (!Object.keys(c).length) { renderOp(d.operating_point_preview, d.operating_point_error); return; }
    const key = JSON.stringify(c);
    if (key === lastPreview && d) return;
    try { renderOp(await OL.api("GET", `/api/deployments/${ref}/operating-point?` + new URLSearchParams(c)), null); lastPreview = key; }
    catch (err) { renderOp(null, {code: err.code, message: err.message}); lastPreview = null; }
  }
  async function act(fn) { OL.clearError("dep-error"); try { await fn(); } catch (err) { OL.showError("dep-error", err); } await load(); }
  function showStore(st) {
    const bad = !!st && st.state !== "ok";
    $("dep-store").hidden = !bad;
    $("dep-store").className = "store-banner" + (bad ? " store-" + st.state : "");
    $("dep-store").textContent = bad ? OL.storeText(ref, st) : "";
  }
  async function load() {
    const d = await OL.api("GET", `/api/deployments/${ref}`);
    $("dep-title").textContent = `Deployment ${d.id}: ${d.name}`;
    $("dep-state").className = "state " + d.state; $("dep-state").textContent = d.state;
    showStore(d.live && d.live.store);
    $("dep-running").textContent = d.live && d.live.running ? "cameras running on this server" : (d.live && d.live.error ? `runner stopped: ${d.live.error}` : "");
    const me = document.querySelector('meta[name="openlfr-user"]').content, drafted = (d.drafters || []).includes(me);
    const blocked = d.state === "draft" && role === "supervisor" && drafted && !d.self_authorisation_allowed;
    $("sod-note").hidden = !(d.state === "draft" && role === "supervisor" && drafted);
    $("sod-note").textContent = blocked ? `You created or edited this deployment (${d.drafters.join(", ")}), so another supervisor must authorise it (separation of duties).` :
      "You created or edited this deployment. This installation allows self-authorisation (one-person installation); it will be recorded in the audit log and shown on the deployment.";
    $("authorise-form").hidden = !(d.state === "draft" && role === "supervisor") || blocked;
    $("op-card").hidden = d.state !== "draft";
    if (d.state === "draft") { lastPreview = null; await preview(d); }
    const op = d.operating_point;
    $("start-btn").hidden = !(["authorised", "live"].includes(d.state) && ["supervisor", "operator"].includes(role) && !(d.live && d.live.running));
    $("stop-btn").hidden = !(d.state !== "ended" && ["admin", "supervisor", "operator"].includes(role));
    $("camtest-btn").hidden = !(d.state !== "ended" && ["admin", "supervisor", "operator"].includes(role));
    dl($("details"), [["Location", d.location], ["Coordinates", d.latitude !== null ? `${d.latitude}, ${d.longitude}` : null], ["Purpose", d.purpose],
      ["Legal basis", d.legal_basis], ["Planned", `${OL.fmtTime(d.planned_start)} → ${OL.fmtTime(d.planned_end)}`],
      ["Watchlist", `${d.watchlist || "–"} copied from ${d.source_watchlist} · ${d.watchlist_size ?? "?"} people${d.watchlist_deleted_at ? " · deleted " + OL.fmtTime(d.watchlist_deleted_at) : ""}`],
      ["Threshold", d.operating_point_text ? d.operating_point_text : op ? `${OL.fmtThreshold(op.threshold)} (${how(op)})` : (d.threshold === null ? `from target FPIR ${OL.fmtRate(d.target_fpir)}, fixed at authorisation` : `${OL.fmtThreshold(d.threshold)} (override), fixed at authorisation`)],
      ...(op ? [["Expected false alerts per 10,000 faces", g3(op.expected_false_alerts_per_10000)], ["Expected TPIR", op.expected_tpir === null ? "unknown" : OL.fmtRate(op.expected_tpir)],
        ["Safe band", op.guardrail.safe ? "inside" : `outside; justification: ${d.justification}`]] : []),
      ["Models", `detector ${OL.modelName(d.models.detector)} · embedder ${OL.modelName(d.models.embedder)}`],
      ["Created", `${d.created_by}, ${OL.fmtTime(d.created_at)}`], ["Authorised", d.authorised_by ? `${d.authorising_officer} (${d.authorised_by}), ${OL.fmtTime(d.authorised_at)}${d.self_authorised ? " · self-authorised: the same user drafted it (allowed by the installation's setting for one-person installations; audited)" : ""}` : null],
      ["Started", d.started_at ? `${d.started_by}, ${OL.fmtTime(d.started_at)}` : null], ["Ended", d.ended_at ? `${d.ended_by}, ${OL.fmtTime(d.ended_at)} (${d.end_reason})` : null]]);
    $("dep-self-auth").hidden = !d.self_authorised;
    const s = d.statistics || {};
    dl($("stats"), [["Faces seen", OL.fmtNum(s.faces_seen)], ["Quality-rejected", OL.fmtNum(s.quality_rejected)], ["Alerts", OL.fmtNum(s.alerts)],
      ["True / false / open", `${OL.fmtNum(s.true_alerts)} / ${OL.fmtNum(s.false_alerts)} / ${OL.fmtNum(s.unadjudicated)}`],
      ["Frames analysed", OL.fmtNum(s.frames_analysed)], ["Camera time", OL.fmtMinutes(s.deployment_live_seconds)], ["Since start (wall clock)", OL.fmtMinutes(s.wall_clock_seconds)],
      ["Frozen", d.statistics_frozen ? "yes (deployment ended)" : "no"]]);
    const live = new Map(((d.live && d.live.cameras) || []).map((c) => [c.camera, c]));
    const byCams = d.state === "ended" && /^all cameras/.test(d.end_reason || "");
    $("dep-sources-ended").hidden = !byCams;
    $("dep-sources-ended").textContent = byCams ? `The deployment ended by itself: ${d.end_reason} (${d.cameras.map((c) => c.name).join(", ")}). Its figures are frozen and its watchlist deleted.` : "";
    lastStats = s;
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
  async function testCameras() {
    const btn = $("camtest-btn"), body = $("camtest-table").querySelector("tbody");
    $("camtest-card").hidden = false; btn.disabled = true; body.replaceChildren();
    $("camtest-status").textContent = "Testing: opening each camera and reading one frame (nothing is kept)…";
    try {
      const r = await OL.api("POST", `/api/deployments/${ref}/cameras/test`);
      const bad = r.cameras.filter((c) => !c.ok).length;
      $("camtest-status").textContent = bad ? `${bad} of ${r.cameras.length} camera(s) failed.` : `All ${r.cameras.length} camera(s) gave a frame.`;
      $("camtest-status").className = bad ? "warning" : "muted";
      body.replaceChildren(...r.cameras.map((c) => OL.el("tr", {class: c.ok ? "camtest-ok" : "camtest-failed"},
        OL.el("td", {text: c.camera}), OL.el("td", {text: c.source}),
        OL.el("td", {}, OL.el("span", {class: "state " + (c.ok ? "live" : "failed"), text: c.ok ? "opened" : "failed"}), c.detail ? OL.el("div", {class: "muted cam-detail", text: c.detail}) : null),
        OL.el("td", {text: c.ok ? `${c.width} × ${c.height}` : "–"}), OL.el("td", {text: c.fps ? `${Number(c.fps.toFixed(2))} fps` : (c.ok ? "not stated" : "–")}))));
    } catch (err) { $("camtest-status").textContent = ""; OL.showError("dep-error", err); }
    btn.disabled = false;
  }
  $("camtest-btn").addEventListener("click", () => { OL.clearError("dep-error"); testCameras(); });
  $("start-btn").addEventListener("click", () => act(() => OL.api("POST", `/api/deployments/${ref}/start`)));
  $("stop-btn").addEventListener("click", () => {
    const open = (lastStats && lastStats.unadjudicated) || 0;
    const waiting = open ? ` ${open} alert(s) still wait for a decision; they stay reviewable after the end.` : "";
    if (confirm(`End this deployment? Its cameras stop and its watchlist is deleted.${waiting}`)) act(() => OL.api("POST", `/api/deployments/${ref}/stop`));
  });
  document.addEventListener("openlfr:store", (e) => { if (String(e.detail.deployment_id) === String(ref)) showStore(e.detail); });
  document.addEventListener("openlfr:deployment", (e) => { if (String(e.detail.deployment_id) === String(ref)) load(); });
  load(); setInterval(load, 3000);
});
