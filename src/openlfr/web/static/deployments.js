"use strict";
document.addEventListener("DOMContentLoaded", async () => {
  const tbody = document.querySelector("#dep-table tbody");
  const win = (d) => `${OL.fmtTime(d.planned_start)} → ${OL.fmtTime(d.planned_end)}`;
  async function load() {
    const r = await OL.api("GET", "/api/deployments?limit=200");
    tbody.replaceChildren(...r.data.map((d) => OL.el("tr", {class: "clickable", onclick: () => { location.href = `/deployments/${d.id}`; }},
      OL.el("td", {text: d.id}), OL.el("td", {text: d.name}), OL.el("td", {}, OL.el("span", {class: "state " + d.state, text: d.state + (d.running_here ? " ●" : "")})),
      OL.el("td", {text: d.location}), OL.el("td", {text: win(d)}), OL.el("td", {text: `${d.source_watchlist} (${d.watchlist_size ?? "?"})`}),
      OL.el("td", {class: "num", text: d.threshold === null ? "–" : OL.fmtThreshold(d.threshold)}), OL.el("td", {text: d.cameras.map((c) => c.name).join(", ")}))));
    if (!r.data.length) tbody.append(OL.el("tr", {}, OL.el("td", {colspan: 8, class: "muted", text: "No deployments yet."})));
  }
  const form = document.getElementById("dep-form");
  if (form) {
    const local = (d) => new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
    const now = new Date(); form.elements.planned_start.value = local(now); form.elements.planned_end.value = local(new Date(now.getTime() + 4 * 3600e3));
    const wl = await OL.api("GET", "/api/watchlists?limit=500");
    for (const w of wl.data) form.elements.source_watchlist.append(OL.el("option", {value: w.name, text: `${w.name} (${w.entries} people)`}));
    const cams = document.getElementById("cams");
    const addCam = () => cams.append(OL.el("div", {class: "inline cam-row"}, OL.el("input", {name: "cam_name", placeholder: "name", value: `cam${cams.children.length + 1}`, size: 10, required: true}),
      OL.el("input", {name: "cam_url", placeholder: "rtsp://user:pass@host/stream, http://…/mjpeg or a video file path", size: 60, required: true}),
      OL.el("input", {name: "cam_desc", placeholder: "where it points", size: 24})));
    addCam();
    document.getElementById("add-cam").addEventListener("click", addCam);
    form.addEventListener("submit", async (e) => {
      e.preventDefault(); OL.clearError("dep-error");
      const f = form.elements, iso = (v) => new Date(v).toISOString();
      const body = {location: f.location.value, purpose: f.purpose.value, legal_basis: f.legal_basis.value,
        planned_start: iso(f.planned_start.value), planned_end: iso(f.planned_end.value), source_watchlist: f.source_watchlist.value,
        all_entries_reason: f.all_entries_reason.value, name: f.name.value || null,
        threshold: f.threshold.value === "" ? null : Number(f.threshold.value),
        target_fpir: f.threshold.value !== "" || f.target_fpir.value === "" ? null : Number(f.target_fpir.value),
        cameras: [...cams.querySelectorAll(".cam-row")].map((r) => ({name: r.querySelector("[name=cam_name]").value, url: r.querySelector("[name=cam_url]").value, description: r.querySelector("[name=cam_desc]").value}))};
      try { const d = await OL.api("POST", "/api/deployments", body); location.href = `/deployments/${d.id}`; }
      catch (err) { OL.showError("dep-error", err); }
    });
  }
  load();
  document.addEventListener("openlfr:deployment", load);
});
