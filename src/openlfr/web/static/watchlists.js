"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const tbody = document.querySelector("#wl-table tbody");
  async function load() {
    const r = await OL.api("GET", "/api/watchlists?limit=500");
    tbody.replaceChildren(...r.data.map((w) => OL.el("tr", {class: "clickable", onclick: () => { location.href = `/watchlists/${encodeURIComponent(w.name)}`; }},
      OL.el("td", {text: w.name}), OL.el("td", {text: w.description}), OL.el("td", {class: "num", text: w.entries}), OL.el("td", {class: "num", text: w.images}),
      OL.el("td", {text: w.embedder ? OL.modelName(w.embedder) + (w.embedder_current === false ? " (another model: re-embed it)" : "") : "–", title: w.embedder || "", class: w.embedder_current === false ? "result-bad" : ""}), OL.el("td", {text: `${w.created_by}, ${OL.fmtTime(w.created_at)}`}))));
    if (!r.data.length) tbody.append(OL.el("tr", {}, OL.el("td", {colspan: 6, class: "muted", text: "No watchlists yet."})));
  }
  const form = document.getElementById("wl-form");
  if (form) form.addEventListener("submit", async (e) => {
    e.preventDefault(); OL.clearError("wl-error");
    try { const w = await OL.api("POST", "/api/watchlists", {name: form.elements.name.value, description: form.elements.description.value}); location.href = `/watchlists/${encodeURIComponent(w.name)}`; }
    catch (err) { OL.showError("wl-error", err); }
  });
  load();
});
