"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const box = document.getElementById("wl"), name = box.dataset.name, manage = box.dataset.manage === "yes";
  const base = `/api/watchlists/${encodeURIComponent(name)}`, tbody = document.querySelector("#entry-table tbody");
  async function load() {
    const w = await OL.api("GET", base);
    document.getElementById("wl-info").textContent = `${w.entries.length} people · model ${w.embedder || "(none yet)"}${w.deployment_id ? " · bespoke list of deployment " + w.deployment_id : ""} · ${w.description || ""}`;
    tbody.replaceChildren(...w.entries.map((e) => OL.el("tr", {},
      OL.el("td", {}, e.images ? OL.el("img", {class: "thumb", loading: "lazy", alt: e.person_id, src: `${base}/entries/entry:${e.id}/images/0`}) : "–"),
      OL.el("td", {text: e.person_id}), OL.el("td", {text: e.name}), OL.el("td", {text: e.category}), OL.el("td", {text: e.reason}),
      OL.el("td", {class: "num", text: e.images}), OL.el("td", {text: `${e.added_by}, ${OL.fmtTime(e.added_at)}`}),
      OL.el("td", {}, manage ? OL.el("button", {class: "small ghost", onclick: async () => {
        if (!confirm(`Remove ${e.person_id} and their photos?`)) return;
        try { await OL.api("DELETE", `${base}/entries/entry:${e.id}`); load(); } catch (err) { OL.toast(err.message, "alert"); } }}, "Remove") : ""))));
    if (!w.entries.length) tbody.append(OL.el("tr", {}, OL.el("td", {colspan: 8, class: "muted", text: "No one on this list yet."})));
  }
  const personOf = (file) => file.name.replace(/\.[^.]+$/, "").replace(/[_ -]\d+$/, "");
  async function upload(files) {
    const out = document.getElementById("upload-results");
    const fixed = document.getElementById("up-person").value.trim();
    const groups = new Map();
    for (const f of files) { const p = fixed || personOf(f); if (!groups.has(p)) groups.set(p, []); groups.get(p).push(f); }
    for (const [person, list] of groups) {
      const fd = new FormData();
      fd.append("person_id", person);
      fd.append("display_name", document.getElementById("up-name").value || person.replace(/_/g, " "));
      fd.append("category", document.getElementById("up-category").value);
      fd.append("reason", document.getElementById("up-reason").value);
      for (const f of list) fd.append("files", f, f.name);
      const line = OL.el("p", {text: `${person}: uploading ${list.length} photo(s)…`}); out.prepend(line);
      try {
        const r = await OL.api("POST", `${base}/entries`, fd);
        line.replaceChildren(OL.el("span", {class: r.accepted_images ? "result-ok" : "result-bad", text: `${person}: ${r.accepted_images} accepted, ${r.rejected_images} rejected`}),
          OL.el("ul", {}, r.rejected.map((x) => OL.el("li", {class: "result-bad rejection", text: `${x.source}: ${x.reason}`}))));
      } catch (err) { line.replaceChildren(OL.el("span", {class: "result-bad rejection", text: `${person}: ${err.message}`})); }
    }
    load();
  }
  const drop = document.getElementById("drop"), input = document.getElementById("files");
  if (drop) {
    ["dragenter", "dragover"].forEach((t) => drop.addEventListener(t, (e) => { e.preventDefault(); drop.classList.add("over"); }));
    ["dragleave", "drop"].forEach((t) => drop.addEventListener(t, (e) => { e.preventDefault(); drop.classList.remove("over"); }));
    drop.addEventListener("drop", (e) => upload([...e.dataTransfer.files]));
    input.addEventListener("change", () => { upload([...input.files]); input.value = ""; });
  }
  load();
});
