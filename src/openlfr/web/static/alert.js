"use strict";
document.addEventListener("DOMContentLoaded", async () => {
  const box = document.getElementById("review"), ref = box.dataset.ref, faces = box.dataset.faces === "yes";
  const form = document.getElementById("adjudicate"), facts = document.getElementById("facts");
  let a, chosen = null;
  const fact = (k, v) => OL.el("div", {}, OL.el("b", {text: k}), v);
  function choose(v) { chosen = v; form.querySelectorAll("[data-verdict]").forEach((b) => b.classList.toggle("selected", b.dataset.verdict === v)); }
  async function load() {
    a = await OL.api("GET", `/api/alerts/${encodeURIComponent(ref)}`);
    document.getElementById("a-title").textContent = `${a.id} · ${a.name || a.person_id || "removed"}`;
    facts.replaceChildren(fact("Person", `${a.name || "–"} (${a.person_id || "–"})`), fact("Category", a.category || "–"),
      fact("Score", `${Number(a.score).toFixed(4)} (threshold ${Number(a.threshold).toFixed(3)})`), fact("Camera", a.camera),
      fact("Deployment", a.deployment_id ?? "–"), fact("Time", OL.fmtTime(a.occurred_at)),
      fact("Verdict", a.verdict || "not adjudicated"), fact("Outcome", a.outcome || "–"), fact("Legal hold", a.legal_hold ? "yes" : "no"));
    if (faces) for (const kind of ["probe", "reference", "frame"]) {
      const img = document.getElementById(kind);
      if (a.images.includes(kind)) img.src = `/api/alerts/${a.id}/images/${kind}`; else img.replaceWith(OL.el("p", {class: "muted", text: a.purged_at ? "deleted by retention" : "not recorded"}));
    }
    const may = ["operator", "supervisor"].includes(OL.role) && !a.purged_at;
    form.hidden = !may;
    if (a.verdict) choose(a.verdict);
    if (a.outcome) form.elements.outcome.value = a.outcome;
    if (a.note) form.elements.note.value = a.note;
  }
  form.querySelectorAll("[data-verdict]").forEach((b) => b.addEventListener("click", () => choose(b.dataset.verdict)));
  async function save() {
    if (!chosen) { OL.toast("Choose true or false first", "alert"); return; }
    try {
      await OL.api("POST", `/api/alerts/${a.id}/adjudicate`, {verdict: chosen, outcome: form.elements.outcome.value || null, note: form.elements.note.value || null});
      document.getElementById("saved").textContent = "saved " + new Date().toLocaleTimeString();
      OL.refreshBadge(); await load();
    } catch (err) { OL.toast(err.message, "alert"); }
  }
  async function next() {
    const r = await OL.api("GET", "/api/alerts?unadjudicated=true&limit=50");
    const other = r.data.find((x) => x.id !== a.id);
    location.href = other ? `/alerts/${other.id}` : "/alerts";
  }
  form.addEventListener("submit", (e) => { e.preventDefault(); save(); });
  document.addEventListener("keydown", (e) => {
    if (e.target.matches("input, textarea") || form.hidden) { if (e.key === "Escape") location.href = "/alerts"; return; }
    const outcomes = {"1": "arrest", "2": "other_disposal", "3": "no_action", "4": "not_engaged"};
    if (e.key === "t") choose("true"); else if (e.key === "f") choose("false");
    else if (outcomes[e.key]) form.elements.outcome.value = outcomes[e.key];
    else if (e.key === "s") { e.preventDefault(); save(); } else if (e.key === "n") next();
    else if (e.key === "Escape") location.href = "/alerts";
  });
  try { await load(); } catch (err) { facts.replaceChildren(OL.el("p", {class: "error", text: err.message})); }
});
