// Retrospective search: start a search, poll its progress, show the appearances (matched faces only).
"use strict";
document.addEventListener("DOMContentLoaded", async () => {
  const wl = document.getElementById("retro-wl"), mediaSel = document.getElementById("retro-media");
  try {
    const [w, m] = await Promise.all([OL.api("GET", "/api/watchlists"), OL.api("GET", "/api/retro/media")]);
    wl.replaceChildren(...w.data.map((x) => OL.el("option", {value: x.name, text: `${x.name} (${x.entries} people)`})));
    for (const x of m.data) mediaSel.append(OL.el("option", {value: x.name, text: `${x.name} (${x.kind === "video" ? "video" : x.images + " photos"})`}));
    if (!m.configured) mediaSel.disabled = true;
  } catch (e) { OL.showError("retro-error", e); }

  let timer = null, current = null;
  const fmtT = (s) => { const m = Math.floor(s / 60); return `${m}:${(s - 60 * m).toFixed(1).padStart(4, "0")}`; };
  function show(job) {
    document.getElementById("retro-job").hidden = false;
    document.getElementById("retro-title").textContent = `${job.source} against ${job.watchlist}`;
    const bar = document.getElementById("retro-progress"), status = document.getElementById("retro-status");
    if (job.total) { bar.max = job.total; bar.value = job.done; } else if (job.state === "running") { bar.removeAttribute("value"); }
    document.body.dataset.retroState = job.state;
    if (job.state === "running") { status.textContent = `analysing: ${job.done}${job.total ? " of " + job.total : ""} frames · ${job.elapsed_s.toFixed(0)} s`; return; }
    clearInterval(timer); timer = null;
    document.getElementById("retro-discard").hidden = false;
    if (job.state === "failed") { bar.value = 0; status.textContent = ""; OL.showError("retro-error", Object.assign(new Error(job.error.message), {code: job.error.code})); return; }
    const r = job.result; bar.max = 1; bar.value = 1;
    status.textContent = `${r.frames} frames · ${r.faces_seen} faces seen · ${r.appearances.length} appearance(s) at or above ${OL.fmtThreshold(job.threshold)} · ${job.elapsed_s.toFixed(1)} s`;
    const base = `/api/retro/${job.id}/appearances`;
    document.getElementById("retro-appearances").replaceChildren(...(r.appearances.length ? r.appearances.map((a) => OL.el("div", {class: "appearance", dataset: {person: a.person_id}},
      OL.el("img", {class: "face", alt: `matched face of ${a.person_id}`, src: `${base}/${a.index}/face.jpg`}),
      a.has_frame ? OL.el("img", {class: "frame", alt: "frame, other faces pixelated", src: `${base}/${a.index}/frame.jpg`}) : null,
      OL.el("div", {}, OL.el("b", {text: a.person_id}), a.name && a.name !== a.person_id ? ` (${a.name})` : ""),
      OL.el("div", {text: `${fmtT(a.first_seen_s)} – ${fmtT(a.last_seen_s)} · score ${OL.fmtScore(a.score)}`})))
      : [OL.el("p", {class: "muted", text: "No one on the watchlist appears at or above the threshold."})]));
  }
  async function poll() {
    try { show(await OL.api("GET", `/api/retro/${current}`)); } catch (e) { clearInterval(timer); timer = null; OL.showError("retro-error", e); }
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
    document.getElementById("retro-appearances").replaceChildren();
    document.getElementById("retro-discard").hidden = true;
    document.body.dataset.retroState = "starting";
    try {
      const job = await OL.api("POST", "/api/retro", fd);
      current = job.id; show(job);
      if (timer) clearInterval(timer);
      timer = setInterval(poll, 700);
    } catch (e) { document.body.dataset.retroState = "failed"; OL.showError("retro-error", e); }
  });
  document.getElementById("retro-discard").addEventListener("click", async () => {
    if (!current) return;
    try { await OL.api("DELETE", `/api/retro/${current}`); } catch (e) { OL.toast(e.message, "alert"); }
    current = null; document.getElementById("retro-job").hidden = true; document.body.dataset.retroState = "";
  });
});
