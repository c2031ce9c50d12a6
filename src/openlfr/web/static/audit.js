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
  // Details as readable text: "label: value" lines, ISO times as local dates, nested values flattened.
  const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/;
  const label = (k) => k.replace(/_/g, " ");
  function value(v) {
    if (v === null || v === undefined || v === "") return "–";
    if (typeof v === "boolean") return v ? "yes" : "no";
    if (typeof v === "string") return ISO.test(v) ? OL.fmtTime(v) : v;
    if (typeof v === "number") return Number.isInteger(v) ? OL.fmtNum(v) : String(Number(v.toPrecision(6)));
    if (Array.isArray(v)) return v.length ? v.map(value).join(", ") : "none";
    return Object.entries(v).map(([k, x]) => `${label(k)} ${value(x)}`).join(", ");
  }
  function readable(d) {
    const lines = Object.entries(d || {}).filter(([k]) => k !== "private").map(([k, v]) => OL.el("div", {}, OL.el("span", {class: "muted", text: label(k) + ": "}), value(v)));
    if (d && d.private) lines.push(OL.el("div", {class: "muted", text: "personal details: stored encrypted, outside the chain"}));
    return lines.length ? lines : [OL.el("span", {class: "muted", text: "–"})];
  }
  async function load() {
    const f = new FormData(form), q = new URLSearchParams({limit, offset});
    for (const k of ["q", "actor", "action", "from", "to"]) if (f.get(k)) q.set(k, f.get(k));
    const ex = new URLSearchParams([...q].filter(([k]) => !["limit", "offset"].includes(k)));
    for (const fmt of ["csv", "json"]) document.getElementById(`audit-${fmt}`).href = `/api/audit/export?format=${fmt}&${ex}`;
    const r = await OL.api("GET", "/api/audit?" + q);
    tbody.replaceChildren(...r.data.map((e) => OL.el("tr", {}, OL.el("td", {class: "num", text: e.seq}), OL.el("td", {text: OL.fmtTime(e.at)}),
      OL.el("td", {text: e.actor}), OL.el("td", {text: e.action}), OL.el("td", {text: `${e.object_type} ${e.object_id}`}),
      OL.el("td", {class: "details", title: JSON.stringify(e.details)}, readable(e.details)))));
    document.getElementById("pager").replaceChildren(OL.el("span", {class: "muted", text: `${r.count} event(s)`}),
      OL.el("button", {class: "small ghost", disabled: offset === 0, onclick: () => { offset = Math.max(0, offset - limit); load(); }}, "‹ newer"),
      OL.el("button", {class: "small ghost", disabled: offset + limit >= r.count, onclick: () => { offset += limit; load(); }}, "older ›"));
  }
  form.addEventListener("submit", (e) => { e.preventDefault(); offset = 0; load().catch((err) => OL.toast(OL.human(err), "alert")); });
  chain(); load();
});
