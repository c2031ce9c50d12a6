// Retrospective search: start a search, poll its progress, show the appearances (matched faces only).
"use strict";
document.addEventListener("DOMContentLoaded", async () => {
  const wl = document.getElementById("retro-wl"), mediaSel = document.getElementById("retro-media");
  try {
    const [w, m] = await Promise.all([OL.api("GET", "/api/watchlists"), OL.api("GET", "/api/retro/media")]);
    wl.replaceChildren(...w.data.map((x) => OL.el("option", {value: x.name, text: `${x.name} (${x.entries} people)`})));
    for (const x of m.data) mediaSel.append(OL.el("option", {value: x.name, text: `${x.name} (${x.kind === "video" ? "video" : x.images + " photos"})`}));
    if (!m.configured || !m.data.length) {
      mediaSel.disabled = true;
      const why = !m.configured ? "No media folder is set on the server (OPENLFR_API_MEDIA_DIR): upload a file instead."
                                : "The media folder holds no video or photo folder yet.";
      mediaSel.title = why;
      document.getElementById("retro-media-why").textContent = why;
    }
  } catch (e) { OL.showError("retro-error", e); }

  let timer = null, current = null, shown = "";
  const fmtT = (s) => { const m = Math.floor(s / 60); return `${m}:${(s - 60 * m).toFixed(1).padStart(4, "0")}`; };
  const fmtLeft = (s) => s === null || s === undefined ? "estimating time left…" : (s < 60 ? `about ${Math.max(1, Math.round(s))} s left` : `about ${Math.round(s / 60)} min left`);
  async function cards(job, list, final) {
    // results as they come: one card per person and track, with the matched face, its frame (others pixelated)
    // and the person's watchlist photo; re-drawn only when the list changes
    const key = JSON.stringify([final, list.map((a) => [a.index, a.person_id, a.score])]);
    if (key === shown) return;
    shown = key;
    const base = `/api/retro/${job.id}/appearances`, wlBase = `/api/watchlists/${encodeURIComponent(job.watchlist)}/entries`;
    const paths = list.flatMap((a) => [a.index !== null && a.has_face !== false ? `${base}/${a.index}/face.jpg` : null,
      a.index !== null && a.has_frame ? `${base}/${a.index}/frame.jpg` : null, a.entry_id ? `${wlBase}/entry:${a.entry_id}/images/0` : null]).filter(Boolean);
    const url = await OL.pageImages("retro", [...new Set(paths)]);
    const box = document.getElementById("retro-appearances");
    box.replaceChildren(...(list.length ? list.map((a) => OL.el("div", {class: "appearance", dataset: {person: a.person_id}},
      OL.el("div", {class: "refs"},
        a.index !== null && a.has_face !== false ? OL.el("figure", {}, OL.el("img", {class: "face", alt: `matched face of ${a.person_id}`, src: url(`${base}/${a.index}/face.jpg`)}), OL.el("figcaption", {text: "in the recording"})) : null,
        a.entry_id ? OL.el("figure", {}, OL.el("img", {class: "reference", alt: `watchlist photo of ${a.person_id}`, src: url(`${wlBase}/entry:${a.entry_id}/images/0`)}), OL.el("figcaption", {text: "watchlist photo"})) : null),
      a.index !== null && a.has_frame ? OL.el("img", {class: "frame", alt: "frame, other faces pixelated", src: url(`${base}/${a.index}/frame.jpg`)}) : null,
      OL.el("div", {}, OL.el("b", {text: a.person_id}), a.name && a.name !== a.person_id ? ` (${a.name})` : ""),
      OL.el("div", {text: final ? `${fmtT(a.first_seen_s)} – ${fmtT(a.last_seen_s)} · score ${OL.fmtScore(a.score)}` : `at ${fmtT(a.t)} · score ${OL.fmtScore(a.score)}`})))
      : [OL.el("p", {class: "muted", text: final ? "No one on the watchlist appears at or above the threshold." : "No one found yet."})]));
  }
  async function show(job) {
    document.getElementById("retro-job").hidden = false;
    document.getElementById("retro-title").textContent = `${job.source} against ${job.watchlist}`;
    const bar = document.getElementById("retro-progress"), status = document.getElementById("retro-status"), stop = document.getElementById("retro-cancel");
    if (job.total) { bar.max = job.total; bar.value = job.done; } else if (job.state === "running") { bar.removeAttribute("value"); }
    if (job.state === "running" || job.state === "failed") document.body.dataset.retroState = job.state;
    if (job.state === "running") {
      const pct = job.total ? ` (${Math.floor(100 * job.done / job.total)}%)` : "";
      status.textContent = job.cancel_requested ? "stopping…" : `analysing: ${job.done}${job.total ? " of " + job.total : ""} frames${pct} · ${job.elapsed_s.toFixed(0)} s · ${job.total ? fmtLeft(job.eta_s) : "length unknown"} · ${job.found.length} found so far`;
      stop.hidden = false; stop.disabled = !!job.cancel_requested;
      return cards(job, job.found, false);
    }
    clearInterval(timer); timer = null; stop.hidden = true;
    document.getElementById("retro-discard").hidden = false;
    if (job.state === "failed") { bar.value = 0; status.textContent = ""; OL.showError("retro-error", Object.assign(new Error(job.error.message), {code: job.error.code})); return; }
    const r = job.result;
    if (job.state === "done") { bar.max = 1; bar.value = 1; }
    status.textContent = `${job.state === "cancelled" ? `Stopped after ${r.frames} frames${job.total ? " of " + job.total : ""}` : `${r.frames} frames`} · ${r.faces_seen} faces seen · ${r.appearances.length} appearance(s) at or above ${OL.fmtThreshold(job.threshold)} · ${job.elapsed_s.toFixed(1)} s`;
    await cards(job, r.appearances, true);
    document.body.dataset.retroState = job.state;  // set once the result cards are on the page
  }
  async function poll() {
    try { await show(await OL.api("GET", `/api/retro/${current}`)); } catch (e) { clearInterval(timer); timer = null; OL.showError("retro-error", e); }
  }
  document.getElementById("retro-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    OL.clearError("retro-error");
    const fd = new FormData();
    fd.append("watchlist", wl.value);
    for (const f of document.getElementById("retro-files").files) fd.append("files", f, f.name);
    if (mediaSel.value) fd.append("media", mediaSel.value);
    const thr = document.getElementById("retro-thr").value, fps = document.getElementById("retro-fps").value;
    if (thr !== "") fd.append("threshold", thr);
    if (fps !== "") fd.append("fps", fps);
    document.getElementById("retro-appearances").replaceChildren(); shown = "";
    document.getElementById("retro-discard").hidden = true;
    document.body.dataset.retroState = "starting";
    try {
      const job = await OL.api("POST", "/api/retro", fd);
      current = job.id; show(job);
      if (timer) clearInterval(timer);
      timer = setInterval(poll, 700);
    } catch (e) { document.body.dataset.retroState = "failed"; OL.showError("retro-error", e); }
  });
  document.getElementById("retro-cancel").addEventListener("click", async () => {
    if (!current) return;
    try { await show(await OL.api("POST", `/api/retro/${current}/cancel`)); } catch (e) { OL.showError("retro-error", e); }
  });
  document.getElementById("retro-discard").addEventListener("click", async () => {
    if (!current) return;
    try { await OL.api("DELETE", `/api/retro/${current}`); } catch (e) { OL.toast(e.message, "alert"); }
    current = null; document.getElementById("retro-job").hidden = true; document.body.dataset.retroState = "";
  });
});
