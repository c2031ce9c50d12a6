"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const tbody = document.querySelector("#alert-table tbody"), only = document.getElementById("only-open"), depSel = document.getElementById("dep-filter");
  let offset = 0, cursor = -1; const limit = 50;
  const filters = document.getElementById("alert-filters");
  const OUTCOME = {arrest: "Arrest", other_disposal: "Other disposal", no_action: "No action", not_engaged: "Not engaged"};
  const verdict = (a) => a.verdict === "true" ? OL.el("span", {class: "v-true", text: "true"}) : a.verdict === "false" ? OL.el("span", {class: "v-false", text: "false"}) : OL.el("span", {class: "v-open", text: "open"});
  function row(a, url) {
    return OL.el("tr", {class: "clickable", dataset: {ref: a.id}, onclick: () => { location.href = `/alerts/${a.id}`; }},
      OL.staff ? OL.el("td", {}, a.images.includes("probe") ? OL.el("img", {class: "thumb", loading: "lazy", alt: "camera face", src: url(`/api/alerts/${a.id}/images/probe`)}) : "–") : null,
      OL.el("td", {text: a.id}), OL.el("td", {text: OL.fmtTime(a.occurred_at)}), OL.el("td", {text: a.deployment_id ?? "–"}),
      OL.el("td", {text: a.camera}), OL.el("td", {text: a.name || a.person_id || (a.purged_at ? "(removed by retention)" : "–")}),
      OL.el("td", {class: "num", text: OL.fmtScore(a.score)}), OL.el("td", {}, verdict(a)), OL.el("td", {text: OUTCOME[a.outcome] || a.outcome || ""}));
  }
  async function load() {
    const q = new URLSearchParams({limit, offset, unadjudicated: only.checked});
    if (depSel.value) q.set("deployment_id", depSel.value);
    for (const [k, v] of new FormData(filters)) if (v !== "") q.set(k, v);
    if (q.get("verdict")) q.set("unadjudicated", false);
    const r = await OL.api("GET", "/api/alerts?" + q);
    const url = await OL.pageImages("alerts", r.data.filter((a) => a.images.includes("probe")).map((a) => `/api/alerts/${a.id}/images/probe`));
    tbody.replaceChildren(...r.data.map((a) => row(a, url)));
    if (!r.data.length) tbody.append(OL.el("tr", {}, OL.el("td", {colspan: 9, class: "muted", text: only.checked ? "No alert waits for a decision." : "No alerts."})));
    const pager = document.getElementById("pager");
    pager.replaceChildren(OL.el("span", {class: "muted", text: `${r.count} alert(s)`}),
      OL.el("button", {class: "small ghost", disabled: offset === 0, onclick: () => { offset = Math.max(0, offset - limit); load(); }}, "‹ newer"),
      OL.el("button", {class: "small ghost", disabled: offset + limit >= r.count, onclick: () => { offset += limit; load(); }}, "older ›"));
    cursor = -1;
  }
  OL.api("GET", "/api/deployments?limit=200").then((r) => { for (const d of r.data) depSel.append(OL.el("option", {value: d.id, text: `${d.id} · ${d.name}`})); });
  only.addEventListener("change", () => { offset = 0; load(); });
  depSel.addEventListener("change", () => { offset = 0; load(); });
  filters.addEventListener("submit", (e) => { e.preventDefault(); offset = 0; if (new FormData(filters).get("verdict")) only.checked = false; load().catch((err) => OL.toast(OL.human(err), "alert")); });
  filters.addEventListener("reset", () => { setTimeout(() => { offset = 0; load(); }, 0); });
  document.addEventListener("openlfr:alert", load);
  document.addEventListener("openlfr:adjudicated", load);
  document.addEventListener("keydown", (e) => {
    if (e.target.matches("input, select, textarea")) return;
    const rows = [...tbody.querySelectorAll("tr.clickable")];
    if (!rows.length) return;
    if (e.key === "j" || e.key === "k") { cursor = Math.max(0, Math.min(rows.length - 1, cursor + (e.key === "j" ? 1 : -1))); rows.forEach((r, i) => r.classList.toggle("cursor", i === cursor)); }
    if (e.key === "Enter" && cursor >= 0) location.href = `/alerts/${rows[cursor].dataset.ref}`;
  });
  load();
});
