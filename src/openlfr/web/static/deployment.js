"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const box = document.getElementById("dep"), ref = box.dataset.ref, role = box.dataset.role;
  const $ = (id) => document.getElementById(id);
  const dl = (node, pairs) => node.replaceChildren(...pairs.flatMap(([k, v]) => [OL.el("dt", {text: k}), OL.el("dd", {text: v ?? "–"})]));
  async function act(fn) { OL.clearError("dep-error"); try { await fn(); } catch (err) { OL.showError("dep-error", err); } await load(); }
  async function load() {
    const d = await OL.api("GET", `/api/deployments/${ref}`);
    $("dep-title").textContent = `Deployment ${d.id}: ${d.name}`;
    $("dep-state").className = "state " + d.state; $("dep-state").textContent = d.state;
    $("dep-running").textContent = d.live && d.live.running ? "cameras running on this server" : (d.live && d.live.error ? `runner stopped: ${d.live.error}` : "");
    $("authorise-form").hidden = !(d.state === "draft" && role === "supervisor");
    $("start-btn").hidden = !(["authorised", "live"].includes(d.state) && ["supervisor", "operator"].includes(role) && !(d.live && d.live.running));
    $("stop-btn").hidden = !(d.state !== "ended" && ["admin", "supervisor", "operator"].includes(role));
    dl($("details"), [["Location", d.location], ["Coordinates", d.latitude !== null ? `${d.latitude}, ${d.longitude}` : null], ["Purpose", d.purpose],
      ["Legal basis", d.legal_basis], ["Planned", `${OL.fmtTime(d.planned_start)} → ${OL.fmtTime(d.planned_end)}`],
      ["Watchlist", `${d.watchlist || "–"} copied from ${d.source_watchlist} · ${d.watchlist_size ?? "?"} people${d.watchlist_deleted_at ? " · deleted " + OL.fmtTime(d.watchlist_deleted_at) : ""}`],
      ["Threshold", d.threshold === null ? "set at authorisation" : Number(d.threshold).toFixed(3)], ["Models", `${d.models.detector} / ${d.models.embedder}`],
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
  $("authorise-form").addEventListener("submit", (e) => { e.preventDefault(); const f = e.target.elements; act(() => OL.api("POST", `/api/deployments/${ref}/authorise`, {officer: f.officer.value, note: f.note.value})); });
  $("start-btn").addEventListener("click", () => act(() => OL.api("POST", `/api/deployments/${ref}/start`)));
  $("stop-btn").addEventListener("click", () => { if (confirm("End this deployment? Its cameras stop and its watchlist is deleted.")) act(() => OL.api("POST", `/api/deployments/${ref}/stop`)); });
  load(); setInterval(load, 3000);
});
