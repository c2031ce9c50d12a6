"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const tiles = document.getElementById("tiles"), previews = tiles.dataset.previews === "yes";
  const known = new Map();
  async function refresh() {
    let r;
    try { r = await OL.api("GET", "/api/cameras"); } catch (e) { return; }
    document.getElementById("no-cameras").hidden = r.count > 0;
    const seen = new Set();
    for (const c of r.data) {
      const key = `${c.deployment_id}/${c.camera}`; seen.add(key);
      let t = known.get(key);
      if (!t) {
        const img = previews ? OL.el("img", {alt: `camera ${c.camera} (faces pixelated)`}) : OL.el("div", {class: "muted", style: "padding:2rem;text-align:center", text: "preview not shown to auditors"});
        const cap = OL.el("div", {class: "cap"});
        t = {root: OL.el("div", {class: "tile"}, img, cap), img, cap, streaming: false};
        known.set(key, t); tiles.append(t.root);
      }
      const cam = `/api/cameras/${c.deployment_id}/${encodeURIComponent(c.camera)}`;
      if (previews && c.preview && c.running && !t.streaming) { t.img.src = `${cam}/preview.mjpg`; t.streaming = true; }
      else if (previews && c.preview && !c.running) { t.img.src = `${cam}/frame.jpg?seq=${Date.now()}`; t.streaming = false; }
      const k = c.counters || {};
      t.cap.replaceChildren(
        OL.el("span", {}, OL.el("b", {text: c.camera}), ` · deployment `, OL.el("a", {href: `/deployments/${c.deployment_id}`, text: c.deployment_id, style: "color:#93c5fd"})),
        OL.el("span", {class: "state " + c.state, text: c.state}),
        OL.el("span", {text: `frames ${OL.fmtNum(k.frames_analysed)} · faces seen ${OL.fmtNum(k.faces_seen)} · quality-rejected ${OL.fmtNum(k.quality_rejected)} · drops ${OL.fmtNum(k.queue_drops)}`}));
    }
    for (const [key, t] of known) if (!seen.has(key)) { t.root.remove(); known.delete(key); }
  }
  refresh(); setInterval(refresh, 2000);
  document.addEventListener("openlfr:camera", refresh);
});
