"use strict";
document.addEventListener("DOMContentLoaded", async () => {
  const box = document.getElementById("review"), ref = box.dataset.ref, faces = box.dataset.faces === "yes";
  const form = document.getElementById("adjudicate"), facts = document.getElementById("facts");
  let a, chosen = null, dirty = false, viewUrl = null;
  const OUTCOME = {arrest: "Arrest", other_disposal: "Other disposal", no_action: "No action", not_engaged: "Not engaged"};
  const VERDICT = {true: "True match", false: "False alert"};
  const leave = (href) => { if (dirty && !confirm("This decision is not saved. Leave without saving?")) return; dirty = false; location.href = href; };
  window.addEventListener("beforeunload", (e) => { if (dirty) { e.preventDefault(); e.returnValue = ""; } });
  const fact = (k, v) => OL.el("div", {}, OL.el("b", {text: k}), v);
  function choose(v, user = true) { chosen = v; if (user) dirty = true; form.querySelectorAll("[data-verdict]").forEach((b) => b.classList.toggle("selected", b.dataset.verdict === v)); }
  async function load() {
    a = await OL.api("GET", `/api/alerts/${encodeURIComponent(ref)}`);
    document.getElementById("a-title").textContent = `${a.id} · ${a.name || a.person_id || "removed"}`;
    facts.replaceChildren(fact("Person", `${a.name || "–"} (${a.person_id || "–"})`), fact("Category", a.category || "–"),
      fact("Score", `${OL.fmtScore(a.score)} (threshold ${OL.fmtThreshold(a.threshold)})`), fact("Camera", a.camera),
      fact("Deployment", a.deployment_id ?? "–"), fact("Time", OL.fmtTime(a.occurred_at)),
      fact("Verdict", VERDICT[a.verdict] || "not adjudicated"), fact("Outcome", OUTCOME[a.outcome] || "–"), fact("Legal hold", a.legal_hold ? "yes" : "no"));
    if (faces) {
      // the page's images declared once: one audit event for this page view, not one per image
      const kinds = ["probe", "reference", "frame"], path = (kind) => `/api/alerts/${a.id}/images/${kind}`;
      if (!viewUrl) viewUrl = await OL.pageImages("alert", kinds.filter((k) => a.images.includes(k)).map(path));
      for (const kind of kinds) {
        const img = document.getElementById(kind);
        if (!img) continue;  // replaced by a note at an earlier load
        if (a.images.includes(kind)) { const src = viewUrl(path(kind)); if (img.getAttribute("src") !== src) img.src = src; }
        else img.replaceWith(OL.el("p", {class: "muted", text: a.purged_at ? "deleted by retention" : "not recorded"}));
      }
    }
    const may = ["operator", "supervisor"].includes(OL.role) && !a.purged_at;
    form.hidden = !may;
    if (a.verdict) choose(a.verdict, false);
    if (a.outcome) form.elements.outcome.value = a.outcome;
    if (a.note) form.elements.note.value = a.note;
    dirty = false;
    await context();
    await holds();
  }
  async function context() {
    const c = await OL.api("GET", `/api/alerts/${a.id}/context`), e = c.watchlist_entry;
    const dl = document.getElementById("entry-facts");
    dl.replaceChildren(...(e ? [["Person", `${e.name} (${e.person_id})`], ["Category", e.category || "–"], ["Reason", e.reason || "–"],
      ["Added by", `${e.added_by}, ${OL.fmtTime(e.added_at)}`]].flatMap(([k, v]) => [OL.el("dt", {text: k}), OL.el("dd", {text: v})])
      : [OL.el("dd", {class: "muted", text: "The watchlist entry no longer exists (the deployment ended); the alert keeps the category: " + (a.category || "–")})]));
    const tb = document.querySelector("#history tbody");
    tb.replaceChildren(...(c.previous_decisions.length ? c.previous_decisions.map((p) => OL.el("tr", {class: "clickable", onclick: () => leave(`/alerts/${p.id}`)},
      OL.el("td", {text: p.id}), OL.el("td", {text: OL.fmtTime(p.occurred_at)}), OL.el("td", {text: p.camera}), OL.el("td", {class: "num", text: OL.fmtScore(p.score)}),
      OL.el("td", {class: p.verdict === "true" ? "v-true" : "v-false", text: VERDICT[p.verdict]}), OL.el("td", {text: OUTCOME[p.outcome] || "–"}), OL.el("td", {text: p.adjudicated_by || "–"})))
      : [OL.el("tr", {}, OL.el("td", {colspan: 7, class: "muted", text: "No earlier decision about this person."}))]));
  }
  async function holds() {
    const box = document.getElementById("hold-box");
    if (!box) return;
    const r = await OL.api("GET", "/api/holds");
    const mine = r.data.filter((h) => h.alert_id === a.id || (h.deployment_id !== null && h.deployment_id === a.deployment_id));
    document.getElementById("hold-status").textContent = a.legal_hold ? "On legal hold: retention will not delete this alert." : "Not held: retention deletes this alert on the normal schedule.";
    document.getElementById("hold-list").replaceChildren(...mine.map((h) => OL.el("p", {class: "hold", dataset: {hold: h.id}},
      `Hold ${h.id} on ${h.alert_id ? "this alert" : "deployment " + h.deployment_id}: ${h.reason} (${h.placed_by}, ${OL.fmtTime(h.placed_at)}) `,
      OL.el("button", {class: "small ghost release-hold", onclick: async () => {
        if (!confirm(`Release hold ${h.id}? Retention then applies the normal rules.`)) return;
        try { await OL.api("POST", `/api/holds/${h.id}/release`, {note: "released from the review page"}); await load(); } catch (err) { OL.toast(OL.human(err), "alert"); } }}, "Release"))));
  }
  const hf = document.getElementById("hold-form");
  if (hf) hf.addEventListener("submit", async (e) => {
    e.preventDefault();
    try { await OL.api("POST", `/api/alerts/${a.id}/hold`, {reason: document.getElementById("hold-reason").value}); document.getElementById("hold-reason").value = ""; await load(); }
    catch (err) { OL.toast(OL.human(err), "alert"); }
  });
  form.elements.outcome.addEventListener("change", () => { dirty = true; });
  form.elements.note.addEventListener("input", () => { dirty = true; });
  form.querySelectorAll("[data-verdict]").forEach((b) => b.addEventListener("click", () => choose(b.dataset.verdict)));
  async function save() {
    if (!chosen) { OL.toast("Choose true or false first", "alert"); return; }
    try {
      await OL.api("POST", `/api/alerts/${a.id}/adjudicate`, {verdict: chosen, outcome: form.elements.outcome.value || null, note: form.elements.note.value || null});
      document.getElementById("saved").textContent = "saved " + new Date().toLocaleTimeString();
      OL.refreshBadge(); await load();
    } catch (err) { OL.toast(OL.human(err), "alert"); }
  }
  async function next() {
    const r = await OL.api("GET", "/api/alerts?unadjudicated=true&limit=50");
    const other = r.data.find((x) => x.id !== a.id);
    leave(other ? `/alerts/${other.id}` : "/alerts");
  }
  form.addEventListener("submit", (e) => { e.preventDefault(); save(); });
  document.addEventListener("keydown", (e) => {
    if (e.target.matches("input, textarea") || form.hidden) { if (e.key === "Escape") leave("/alerts"); return; }
    const outcomes = {"1": "arrest", "2": "other_disposal", "3": "no_action", "4": "not_engaged"};
    if (e.key === "t") choose("true"); else if (e.key === "f") choose("false");
    else if (outcomes[e.key]) { form.elements.outcome.value = outcomes[e.key]; dirty = true; }
    else if (e.key === "s") { e.preventDefault(); save(); } else if (e.key === "n") next();
    else if (e.key === "Escape") leave("/alerts");
  });
  try { await load(); } catch (err) { facts.replaceChildren(OL.el("p", {class: "error", text: err.message})); }
});
