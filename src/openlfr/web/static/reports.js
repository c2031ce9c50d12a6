"use strict";
document.addEventListener("DOMContentLoaded", async () => {
  const $ = (id) => document.getElementById(id);
  const ci = (c) => c ? `95% CI ${OL.fmtInterval(c)}` : "";
  const fig = (k, v, sub) => OL.el("div", {class: "figure"}, OL.el("div", {class: "k", text: k}), OL.el("div", {class: "v", text: v}), OL.el("div", {class: "ci", text: sub || ""}));
  function show(rep, links) {
    $("rep-title").textContent = rep.title;
    $("rep-downloads").replaceChildren(OL.el("span", {class: "muted", text: "Download: "}), ...["csv", "json", "html"].map((f) => OL.el("a", {href: links(f, true), text: f.toUpperCase()})),
      OL.el("a", {href: links("html", false), target: "_blank", rel: "noopener", text: "printable view"}));
    const t = rep.totals;
    $("rep-figures").replaceChildren(fig("Deployments", OL.fmtNum(t.deployments)), fig("Faces seen", OL.fmtNum(t.faces_seen)),
      fig("Alerts", OL.fmtNum(t.alerts), `${OL.fmtNum(t.unadjudicated)} not adjudicated`), fig("True alerts", OL.fmtNum(t.true_alerts)), fig("False alerts", OL.fmtNum(t.false_alerts)),
      fig("False alerts per face seen", OL.fmtRate(t.false_alerts_per_face), [OL.oneIn(t.false_alerts_per_face), ci(t.false_alerts_per_face_ci)].filter(Boolean).join(" · ") || t.false_alerts_per_face_reason),
      fig("Share of alerts that were wrong", OL.fmtRate(t.share_of_alerts_wrong), ci(t.share_of_alerts_wrong_ci) || t.share_of_alerts_wrong_reason),
      fig("Quality-gate rejections", OL.fmtNum(t.quality_rejected)), fig("Duration", `${OL.fmtNum(t.duration_minutes, 1)} min`),
      ...Object.entries(t.outcomes || {}).map(([k, v]) => fig("Outcome: " + k.replace("_", " "), OL.fmtNum(v))));
    const rows = rep.deployments;
    $("rep-charts").replaceChildren(
      OL.barChart("Alerts per deployment", rows.map((r) => r.id), [{name: "true", values: rows.map((r) => r.true_alerts)}, {name: "false", values: rows.map((r) => r.false_alerts)}, {name: "open", values: rows.map((r) => r.unadjudicated)}], ["#1b7f3b", "#b42318", "#b54708"]),
      OL.barChart("Faces seen per deployment", rows.map((r) => r.id), [{name: "faces seen", values: rows.map((r) => r.faces_seen)}], ["#1f5fbf"]));
    const cols = [["id", "#"], ["date", "Date"], ["location", "Location"], ["duration_minutes", "Minutes"], ["watchlist_size", "Watchlist"], ["threshold", "Threshold"], ["faces_seen", "Faces seen"],
      ["alerts", "Alerts"], ["true_alerts", "True"], ["false_alerts", "False"], ["unadjudicated", "Open"], ["false_alerts_per_face", "False/face"], ["share_of_alerts_wrong", "Share wrong"]];
    $("rep-table").querySelector("thead").replaceChildren(OL.el("tr", {}, cols.map(([, h]) => OL.el("th", {text: h}))));
    $("rep-table").querySelector("tbody").replaceChildren(...rows.map((r) => OL.el("tr", {}, cols.map(([k]) => OL.el("td", {dataset: {col: k}, text:
      k.includes("share") || k.includes("per_face") ? OL.fmtRate(r[k]) : k === "threshold" ? OL.fmtThreshold(r[k]) : (r[k] ?? "–")})))));
    $("rep-notes").replaceChildren(...(rep.notes || []).map((n) => OL.el("li", {text: n})));
    window.__openlfrReport = rep;
  }
  async function loadDeployment(id) {
    const rep = await OL.api("GET", `/api/reports/deployments/${id}`);
    show(rep, (f, dl) => `/api/reports/deployments/${id}?format=${f}${dl ? "&download=true" : ""}`);
  }
  async function loadPeriod() {
    const from = $("rep-from").value, to = $("rep-to").value;
    if (!from || !to) { OL.toast("Choose both dates", "alert"); return; }
    const q = `from=${from}&to=${to}`;
    try { show(await OL.api("GET", `/api/reports/period?${q}`), (f, dl) => `/api/reports/period?${q}&format=${f}${dl ? "&download=true" : ""}`); } catch (err) { OL.toast(OL.human(err), "alert"); }
  }
  const deps = await OL.api("GET", "/api/deployments?limit=500");
  const sel = $("rep-dep");
  for (const d of deps.data.filter((d) => d.state !== "draft")) sel.append(OL.el("option", {value: d.id, text: `${d.id} · ${d.name} (${d.state})`}));
  const wanted = new URLSearchParams(location.search).get("deployment");
  if (wanted) sel.value = wanted;
  sel.addEventListener("change", () => loadDeployment(sel.value));
  $("rep-period").addEventListener("click", loadPeriod);
  const y = new Date().getFullYear(); $("rep-from").value = `${y}-01-01`; $("rep-to").value = new Date().toISOString().slice(0, 10);
  if (sel.value) loadDeployment(sel.value); else loadPeriod();

  // --- published records side by side ---------------------------------------------------------
  async function showPublished(pub) {
    const years = Object.keys(pub.years).sort();
    const own = {};
    for (const yr of years) { try { own[yr] = (await OL.api("GET", `/api/reports/period?from=${yr}-01-01&to=${yr}-12-31`)).totals; } catch (e) { own[yr] = null; } }
    const head = ["Year", "Source", "Deployments", "Faces seen", "Alerts", "True", "False", "False alerts per face (95% CI)", "Share of alerts wrong (95% CI)"];
    $("pub-table").querySelector("thead").replaceChildren(OL.el("tr", {}, head.map((h) => OL.el("th", {text: h}))));
    const line = (yr, src, t) => OL.el("tr", {class: src === "OpenLFR" ? "own" : ""}, OL.el("td", {text: yr}), OL.el("td", {text: src}), OL.el("td", {class: "num", text: OL.fmtNum(t.deployments)}),
      OL.el("td", {class: "num", text: OL.fmtNum(t.faces_seen)}), OL.el("td", {class: "num", text: OL.fmtNum(t.alerts)}), OL.el("td", {class: "num", text: OL.fmtNum(t.true_alerts)}),
      OL.el("td", {class: "num", text: OL.fmtNum(t.false_alerts)}), OL.el("td", {text: `${OL.fmtRate(t.false_alerts_per_face)} ${OL.oneIn(t.false_alerts_per_face) ? "(" + OL.oneIn(t.false_alerts_per_face) + ")" : ""} ${t.false_alerts_per_face_ci ? "(95% CI " + OL.fmtInterval(t.false_alerts_per_face_ci) + ")" : ""}`}),
      OL.el("td", {text: `${OL.fmtRate(t.share_of_alerts_wrong)} ${t.share_of_alerts_wrong_ci ? "(95% CI " + OL.fmtInterval(t.share_of_alerts_wrong_ci) + ")" : ""}`}));
    $("pub-table").querySelector("tbody").replaceChildren(...years.flatMap((yr) => [line(yr, "published", pub.years[yr]), ...(own[yr] && own[yr].deployments ? [line(yr, "OpenLFR", own[yr])] : [])]));
    $("pub-notes").replaceChildren(...years.flatMap((yr) => (pub.years[yr].notes || []).map((n) => OL.el("li", {text: `${yr}: ${n}`}))));
  }
  $("pub-file").addEventListener("change", async (e) => {
    const f = e.target.files[0]; if (!f) return;
    const fd = new FormData(); fd.append("file", f, f.name);
    $("pub-table").querySelector("tbody").replaceChildren(); OL.clearError("pub-error");
    try { await showPublished(await OL.api("POST", "/api/reports/published", fd)); } catch (err) { OL.showError("pub-error", err); }
  });
  if ($("pub-card").dataset.configured === "yes") {  // ask for the configured file only when there is one
    $("pub-configured").addEventListener("click", async () => { try { await showPublished(await OL.api("GET", "/api/reports/published")); } catch (err) { OL.toast(OL.human(err), "alert"); } });
    OL.api("GET", "/api/reports/published", undefined, {noRedirect: true}).then(showPublished).catch(() => {});
  }
});
