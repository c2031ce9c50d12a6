"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const box = document.getElementById("wl"), name = box.dataset.name, manage = box.dataset.manage === "yes";
  const base = `/api/watchlists/${encodeURIComponent(name)}`, tbody = document.querySelector("#entry-table tbody");
  let bespoke = false;

  function editRow(tr, e) {
    const inp = (v, max) => OL.el("input", {value: v || "", maxlength: max});
    const n = inp(e.name, 300), c = inp(e.category, 200), r = inp(e.reason, 2000);
    n.className = "edit-name"; c.className = "edit-category"; r.className = "edit-reason";
    tr.children[2].replaceChildren(n); tr.children[3].replaceChildren(c); tr.children[4].replaceChildren(r);
    tr.children[7].replaceChildren(OL.el("button", {class: "small save-entry", onclick: async () => {
      try { await OL.api("PATCH", `${base}/entries/entry:${e.id}`, {display_name: n.value, category: c.value, reason: r.value}); OL.toast(`${e.person_id} saved`); load(); }
      catch (err) { OL.toast(OL.human(err), "alert"); } }}, "Save"), " ", OL.el("button", {class: "small ghost", onclick: load}, "Cancel"));
  }
  async function load() {
    const w = await OL.api("GET", base);
    bespoke = !!w.deployment_id;
    document.getElementById("wl-info").textContent = `${w.entries.length} people · model ${w.embedder ? OL.modelName(w.embedder) : "(none yet)"}${w.deployment_id ? " · bespoke list of deployment " + w.deployment_id + " (fixed at authorisation: read-only)" : ""} · ${w.description || ""}`;
    const stale = document.getElementById("wl-stale");
    stale.hidden = w.embedder_current !== false;
    stale.replaceChildren(...(w.embedder_current === false ? [
      OL.el("span", {text: "This list's vectors are from another model than the one in use: it cannot be searched until its stored photos are re-embedded. "}),
      ...(manage ? [OL.el("button", {class: "small", id: "wl-reembed", onclick: async () => {
        try { const r = await OL.api("POST", `${base}/reembed`); OL.toast(`${r.embedded} of ${r.images} photos re-embedded${r.without_face ? `; ${r.without_face} without a usable face` : ""}`); load(); }
        catch (err) { OL.showError("manage-error", err); } }}, "Re-embed with the current model")] : [])] : []));
    const mg = document.getElementById("wl-manage");
    if (mg) { mg.hidden = bespoke; document.getElementById("wl-desc").value = w.description || ""; }
    const up = document.getElementById("upload");
    if (up && bespoke) up.hidden = true;
    const editable = manage && !bespoke;
    const url = await OL.pageImages("watchlist", w.entries.filter((e) => e.images).map((e) => `${base}/entries/entry:${e.id}/images/0`));
    tbody.replaceChildren(...w.entries.map((e) => { const tr = OL.el("tr", {dataset: {person: e.person_id}},
      OL.el("td", {}, e.images ? OL.el("button", {class: "linklike photos-open", title: `All ${e.images} photo(s) of ${e.person_id}`, onclick: () => photos(e, editable)},
        OL.el("img", {class: "thumb", loading: "lazy", alt: e.person_id, src: url(`${base}/entries/entry:${e.id}/images/0`)})) : "–"),
      OL.el("td", {text: e.person_id}), OL.el("td", {text: e.name}), OL.el("td", {text: e.category}), OL.el("td", {text: e.reason}),
      OL.el("td", {class: "num"}, e.images ? OL.el("button", {class: "small ghost photos-open", onclick: () => photos(e, editable)}, `${e.images} · view`) : "0"), OL.el("td", {text: `${e.added_by}, ${OL.fmtTime(e.added_at)}`}),
      OL.el("td", {}, editable ? [OL.el("button", {class: "small ghost edit-entry", onclick: () => editRow(tr, e)}, "Edit"), " ",
        OL.el("button", {class: "small ghost", onclick: async () => {
        if (!confirm(`Remove ${e.person_id} and their photos?`)) return;
        try { await OL.api("DELETE", `${base}/entries/entry:${e.id}`); load(); } catch (err) { OL.toast(OL.human(err), "alert"); } }}, "Remove")] : "")); return tr; }));
    if (!w.entries.length) tbody.append(OL.el("tr", {}, OL.el("td", {colspan: 8, class: "muted", text: "No one on this list yet."})));
  }

  // --- every photo of one person: view, see which pairs look like two people, remove one ---------------
  async function photos(e, editable) {
    const panel = document.getElementById("photos-panel");
    OL.clearError("photos-error");
    let r;
    try { r = await OL.api("GET", `${base}/entries/entry:${e.id}/photos`); } catch (err) { OL.showError("photos-error", err); return; }
    panel.hidden = false; panel.dataset.person = e.person_id;
    document.getElementById("photos-title").textContent = `Photos of ${e.name || e.person_id} (${e.person_id}) · ${r.photos.length}`;
    const c = r.consistency, lows = new Set((c.pairs_below || []).flatMap((p) => [p[0], p[1]]));
    const info = document.getElementById("photos-consistency");
    info.className = c.warning && c.pairs_below.length ? "warning consistency" : "muted";
    info.textContent = c.warning ? "⚠ " + c.warning + (c.pairs_below.length > 1 ? " Pairs: " + c.pairs_below.map((p) => `${p[0]}–${p[1]} (${OL.fmtScore(p[2])})`).join(", ") : "")
      : (r.photos.length > 1 ? `Every pair of photos scores at least ${OL.fmtScore(c.min_score)} against each other (warning below ${OL.fmtThreshold(c.threshold)}, the score under which ${OL.fmtRate(c.genuine_frr)} of pairs of photos of one person fall).` : "One photo: nothing to compare.");
    const url = await OL.pageImages("photos", r.photos.map((p) => `${base}/entries/entry:${e.id}/images/${p.index}`));
    document.getElementById("photos-grid").replaceChildren(...r.photos.map((p) => OL.el("figure", {class: "photo" + (lows.has(p.index + 1) ? " low" : ""), dataset: {index: p.index}},
      OL.el("img", {alt: `photo ${p.index + 1} of ${e.person_id}`, src: url(`${base}/entries/entry:${e.id}/images/${p.index}`)}),
      OL.el("figcaption", {}, `photo ${p.index + 1} · ${p.width}×${p.height} · ${OL.fmtTime(p.added_at)}`,
        editable && r.photos.length > 1 ? OL.el("button", {class: "small bad remove-photo", onclick: async () => {
          if (!confirm(`Remove photo ${p.index + 1} of ${e.person_id}?`)) return;
          try { await OL.api("DELETE", `${base}/entries/entry:${e.id}/images/${p.index}?image_id=${p.image_id}`); OL.toast(`photo ${p.index + 1} of ${e.person_id} removed`); await load(); await photos({...e, images: r.photos.length - 1}, editable); }
          catch (err) { OL.showError("photos-error", err); } }}, "Remove this photo") : null))));
    panel.scrollIntoView({block: "nearest"});
  }
  const closer = document.getElementById("photos-close");
  if (closer) closer.addEventListener("click", () => { document.getElementById("photos-panel").hidden = true; });

  // --- where a person id comes from -------------------------------------------------------------
  // Camera and phone file names say nothing about who is in the photo.
  const CAMERA = [/^(img|dsc[nf]?|pxl|mvimg|vid|gopr|dji|p|photo|image|picture|screenshot|whatsapp image|whatsapp|signal|received|capture|snapshot|scan|cam|dcim|untitled|download|unnamed|file|new)([\s_\-.()]*\d.*)?$/i,
                  /^\d{8}[_\-]?\d{4,6}/, /^[\d\s_\-.()]+$/];
  const cameraStyle = (s) => CAMERA.some((re) => re.test(s));
  const nameOf = (file) => file.name.replace(/\.[^.]+$/, "");
  function personFromName(file) {
    const stem = nameOf(file).trim(), person = stem.replace(/[_ -]\d+$/, "");
    if (!person || cameraStyle(stem) || cameraStyle(person) || !/[a-z]/i.test(person)) return null;
    return person;
  }
  function out(line) { const o = document.getElementById("upload-results"); o.prepend(line); return line; }

  async function send(person, list, fields) {
    const fd = new FormData();
    fd.append("person_id", person);
    fd.append("display_name", fields.name || person.replace(/_/g, " "));
    fd.append("category", fields.category || "");
    fd.append("reason", fields.reason || "");
    for (const f of list) fd.append("files", f, f.name);
    const line = out(OL.el("p", {text: `${person}: uploading ${list.length} photo(s)…`}));
    try {
      const r = await OL.api("POST", `${base}/entries`, fd);
      const warn = r.consistency && r.consistency.warning;
      line.replaceChildren(OL.el("span", {class: r.accepted_images ? "result-ok" : "result-bad", text: `${person}: ${r.accepted_images} accepted, ${r.rejected_images} rejected`}),
        warn ? OL.el("div", {class: "warning consistency", text: "⚠ " + warn}) : "",
        OL.el("ul", {}, r.rejected.map((x) => OL.el("li", {class: "result-bad rejection", text: `${x.source}: ${x.reason}`}))));
    } catch (err) { line.replaceChildren(OL.el("span", {class: "result-bad rejection", text: `${person}: ${err.message}`})); }
  }
  function clearFields() {
    for (const id of ["up-person", "up-name", "up-category", "up-reason"]) { const i = document.getElementById(id); if (i) i.value = ""; }
    const csv = document.getElementById("import-csv"); if (csv) csv.value = "";
  }
  const formFields = () => ({name: document.getElementById("up-name").value.trim(), category: document.getElementById("up-category").value,
                             reason: document.getElementById("up-reason").value});

  async function upload(files) {
    const fixed = document.getElementById("up-person").value.trim(), fromNames = document.getElementById("up-from-names").checked;
    if (fixed) { await send(fixed, files, formFields()); clearFields(); load(); return; }
    if (!fromNames) {
      out(OL.el("p", {class: "result-bad rejection", text: "Give the person id (all chosen photos are that person), import a folder with one subfolder per person, or tick 'take it from each file name'. Nothing was uploaded."}));
      return;
    }
    const groups = new Map(), refused = [];
    for (const f of files) { const p = personFromName(f); if (!p) { refused.push(f.name); continue; } if (!groups.has(p)) groups.set(p, []); groups.get(p).push(f); }
    if (refused.length) out(OL.el("p", {class: "result-bad rejection", text: `Not uploaded: ${refused.join(", ")}: the file name does not name a person (camera-style or no name); upload these with a person id.`}));
    const f = formFields();
    for (const [person, list] of groups) await send(person, list, {...f, name: ""});
    if (groups.size) clearFields();
    load();
  }

  // --- folder (one subfolder per person) and people CSV -----------------------------------------------
  function parseCsv(text) {
    const rows = [];
    let row = [], cell = "", q = false;
    for (let i = 0; i < text.length; i++) {
      const ch = text[i];
      if (q) { if (ch === '"') { if (text[i + 1] === '"') { cell += '"'; i++; } else q = false; } else cell += ch; }
      else if (ch === '"') q = true; else if (ch === ",") { row.push(cell); cell = ""; }
      else if (ch === "\n" || ch === "\r") { if (ch === "\r" && text[i + 1] === "\n") i++; row.push(cell); rows.push(row); row = []; cell = ""; }
      else cell += ch;
    }
    if (cell !== "" || row.length) { row.push(cell); rows.push(row); }
    return rows.filter((r) => r.some((c) => c.trim() !== ""));
  }
  async function readPeople() {
    const inp = document.getElementById("import-csv");
    if (!inp.files.length) return new Map();
    const rows = parseCsv((await inp.files[0].text()).replace(/^\ufeff/, ""));
    const head = (rows.shift() || []).map((h) => h.trim().toLowerCase());
    const col = (k) => head.indexOf(k);
    if (col("person_id") < 0) throw new Error("the CSV needs a person_id column (and optionally name, category, reason)");
    const m = new Map();
    for (const r of rows) {
      const get = (k) => (col(k) >= 0 ? (r[col(k)] || "").trim() : "");
      if (get("person_id")) m.set(get("person_id"), {name: get("name"), category: get("category"), reason: get("reason")});
    }
    return m;
  }
  async function importFolder(files) {
    let people;
    try { people = await readPeople(); } catch (e) { out(OL.el("p", {class: "result-bad rejection", text: e.message})); return; }
    const groups = new Map(), loose = [];
    for (const f of files) {
      const parts = (f.webkitRelativePath || f.name).split("/");
      if (parts.some((p) => p.startsWith("."))) continue;
      if (parts.length < 3) { loose.push(f.name); continue; }
      const person = parts[parts.length - 2];
      if (!groups.has(person)) groups.set(person, []);
      groups.get(person).push(f);
    }
    if (loose.length) out(OL.el("p", {class: "result-bad rejection", text: `Not uploaded: ${loose.join(", ")}: photos must be in a subfolder named by the person id.`}));
    const f = formFields(), unknown = [...people.keys()].filter((p) => !groups.has(p));
    for (const [person, list] of [...groups].sort()) await send(person, list, people.get(person) || {...f, name: ""});
    if (unknown.length) out(OL.el("p", {class: "muted", text: `In the CSV but no subfolder: ${unknown.join(", ")}`}));
    if (groups.size) clearFields();
    load();
  }

  const drop = document.getElementById("drop"), input = document.getElementById("files");
  if (drop) {
    ["dragenter", "dragover"].forEach((t) => drop.addEventListener(t, (e) => { e.preventDefault(); drop.classList.add("over"); }));
    ["dragleave", "drop"].forEach((t) => drop.addEventListener(t, (e) => { e.preventDefault(); drop.classList.remove("over"); }));
    drop.addEventListener("drop", (e) => upload([...e.dataTransfer.files]));
    input.addEventListener("change", () => { upload([...input.files]); input.value = ""; });
    const folder = document.getElementById("import-folder");
    folder.addEventListener("change", () => { importFolder([...folder.files]); folder.value = ""; });
  }
  const desc = document.getElementById("desc-form");
  if (desc) {
    desc.addEventListener("submit", async (e) => {
      e.preventDefault(); OL.clearError("manage-error");
      try { await OL.api("PATCH", base, {description: document.getElementById("wl-desc").value}); OL.toast("description saved"); load(); }
      catch (err) { OL.showError("manage-error", err); }
    });
    document.getElementById("wl-delete").addEventListener("click", async () => {
      if (!confirm(`Delete the watchlist ${name} with every photo and embedding?`)) return;
      try { await OL.api("DELETE", base); location.href = "/watchlists"; } catch (err) { OL.showError("manage-error", err); }
    });
  }
  load();
});
