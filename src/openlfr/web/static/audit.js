"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("audit-form"), tbody = document.querySelector("#audit-table tbody");
  let offset = 0; const limit = 50;
  async function chain() {
    const p = document.getElementById("chain-status");
    try {
      const v = await OL.api("GET", "/api/audit/verify");
      p.className = v.ok ? "result-ok" : "result-bad";
      p.textContent = v.ok ? `Chain intact: ${v.events} events verified; anchor ${(v.anchor && v.anchor.status) || "not checked"}.` : `BROKEN${v.first_bad_seq ? " at event " + v.first_bad_seq : ""}: ${v.problem}`;
    } catch (err) { p.textContent = err.message; }
  }
  async function load() {
    const f = new FormData(form), q = new URLSearchParams({limit, offset});
    for (const k of ["q", "actor", "action", "from", "to"]) if (f.get(k)) q.set(k, f.get(k));
    const ex = new URLSearchParams([...q].filter(([k]) => !["limit", "offset"].includes(k)));
    for (const fmt of ["csv", "json"]) document.getElementById(`audit-${fmt}`).href = `/api/audit/export?format=${fmt}&${ex}`;
    const r = await OL.api("GET", "/api/audit?" + q);
    tbody.replaceChildren(...r.data.map((e) => OL.el("tr", {}, OL.el("td", {class: "num", text: e.seq}), OL.el("td", {text: e.at.replace("T", " ").slice(0, 19)}),
      OL.el("td", {text: e.actor}), OL.el("td", {text: e.action}), OL.el("td", {text: `${e.object_type} ${e.object_id}`}),
      OL.el("td", {}, OL.el("code", {text: JSON.stringify(e.details).slice(0, 240)})))));
    document.getElementById("pager").replaceChildren(OL.el("span", {class: "muted", text: `${r.count} event(s)`}),
      OL.el("button", {class: "small ghost", disabled: offset === 0, onclick: () => { offset = Math.max(0, offset - limit); load(); }}, "‹ newer"),
      OL.el("button", {class: "small ghost", disabled: offset + limit >= r.count, onclick: () => { offset += limit; load(); }}, "older ›"));
  }
  form.addEventListener("submit", (e) => { e.preventDefault(); offset = 0; load().catch((err) => OL.toast(err.message, "alert")); });
  chain(); load();
});
