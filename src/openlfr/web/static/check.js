// One-photo check (OIFR): the photo is shown from the browser's memory; only the API sees its bytes.
"use strict";
document.addEventListener("DOMContentLoaded", async () => {
  const sel = document.getElementById("check-wl");
  try {
    const r = await OL.api("GET", "/api/watchlists");
    sel.replaceChildren(...r.data.map((w) => OL.el("option", {value: w.name, text: `${w.name} (${w.entries} people)`})));
    if (!r.data.length) sel.append(OL.el("option", {value: "", text: "no watchlist yet"}));
  } catch (e) { OL.showError("check-error", e); }

  function draw(file, faces) {
    const canvas = document.getElementById("check-canvas"), img = new Image(), url = URL.createObjectURL(file);
    img.onload = () => {
      const scale = Math.min(1, 640 / img.naturalWidth);
      canvas.width = Math.round(img.naturalWidth * scale); canvas.height = Math.round(img.naturalHeight * scale);
      const g = canvas.getContext("2d");
      g.drawImage(img, 0, 0, canvas.width, canvas.height);
      faces.forEach((f, i) => {
        const [x1, y1, x2, y2] = f.box.map((v) => v * scale);
        g.lineWidth = 3; g.strokeStyle = f.candidates.length ? "#dc2626" : (f.passed_quality ? "#22c55e" : "#f59e0b");
        g.strokeRect(x1, y1, x2 - x1, y2 - y1);
        g.fillStyle = g.strokeStyle; g.font = "bold 16px sans-serif"; g.fillText(String(i + 1), x1 + 3, Math.max(16, y1 - 4));
      });
      URL.revokeObjectURL(url);
      canvas.dataset.drawn = String(faces.length);
    };
    img.src = url;
  }

  document.getElementById("check-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    OL.clearError("check-error");
    const file = document.getElementById("check-file").files[0];
    if (!file) return;
    const fd = new FormData();
    fd.append("image", file, file.name);
    const thr = document.getElementById("check-thr").value;
    if (thr !== "") fd.append("threshold", thr);
    const btn = document.getElementById("check-go"); btn.disabled = true; btn.textContent = "Checking…";
    // an earlier result never stays on screen beside a new photo (nor after an error)
    document.getElementById("check-result").hidden = true;
    document.querySelector("#check-table tbody").replaceChildren();
    document.getElementById("check-summary").textContent = "";
    delete document.getElementById("check-canvas").dataset.drawn;
    try {
      const r = await OL.api("POST", `/api/watchlists/${encodeURIComponent(sel.value)}/check`, fd);
      const matched = r.faces.filter((f) => f.candidates.length).length;
      const refBase = `/api/watchlists/${encodeURIComponent(r.watchlist)}/entries`;
      const refPath = (c) => `${refBase}/entry:${c.entry_id}/images/0`;
      const url = await OL.pageImages("check", [...new Set(r.faces.flatMap((f) => [...f.candidates, ...(f.near_misses || [])]).map(refPath))]);
      const person = (c, cls) => OL.el("figure", {class: cls, dataset: {person: c.person_id}},
        OL.el("img", {alt: `watchlist photo of ${c.person_id}`, src: url(refPath(c))}),
        OL.el("figcaption", {}, OL.el("b", {text: c.person_id}), c.name && c.name !== c.person_id ? ` (${c.name})` : "", OL.el("br"), `score ${OL.fmtScore(c.score)}`));
      document.getElementById("check-summary").textContent =
        `${r.faces.length} face(s) found · ${matched} with a candidate at or above ${OL.fmtThreshold(r.threshold)} · watchlist ${r.watchlist} (${r.watchlist_size} people)`;
      document.querySelector("#check-table tbody").replaceChildren(...(r.faces.length ? r.faces.map((f, i) => OL.el("tr", {class: f.candidates.length ? "match" : ""},
        OL.el("td", {text: String(i + 1)}),
        OL.el("td", {text: f.passed_quality ? "passed" : `rejected: ${f.quality.failed || "quality"}`}),
        OL.el("td", {}, f.candidates.length ? OL.el("div", {class: "refs candidates"}, ...f.candidates.map((c) => person(c, "candidate")))
          : OL.el("span", {class: "muted", text: "no candidate: nothing about this face is kept"})),
        OL.el("td", {}, (f.near_misses || []).length ? OL.el("div", {class: "refs near-misses"}, ...f.near_misses.map((c) => person(c, "near-miss")))
          : OL.el("span", {class: "muted", text: "–"}))))
        : [OL.el("tr", {}, OL.el("td", {colspan: 4, class: "muted", text: "No face found in this photo."}))]));
      document.getElementById("check-result").hidden = false;
      draw(file, r.faces);
    } catch (e) { OL.showError("check-error", e); }
    finally { btn.disabled = false; btn.textContent = "Check"; }
  });
});
