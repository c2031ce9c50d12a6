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
        const img = previews ? OL.el("img", {alt: `camera ${c.camera} (faces pixelated)`}) : OL.el("div", {class: "muted no-preview", text: "preview not shown to auditors"});
        const cap = OL.el("div", {class: "cap"});
        t = {root: OL.el("div", {class: "tile"}, img, cap), img, cap, streaming: false};
        known.set(key, t); tiles.append(t.root);
      }
      const cam = `/api/cameras/${c.deployment_id}/${encodeURIComponent(c.camera)}`;
      if (previews && c.preview && c.running && !t.streaming) { t.img.src = `${cam}/preview.mjpg`; t.streaming = true; }
      else if (previews && c.preview && !c.running) { t.img.src = `${cam}/frame.jpg?seq=${Date.now()}`; t.streaming = false; }
      const k = c.counters || {}, now = performance.now(), prev = t.last;
      t.last = {at: now, n: k.frames_analysed || 0};
      // analysed frames per second, from the change in the counter between two refreshes
      const fps = prev && now - prev.at > 500 && c.state === "live" ? (t.last.n - prev.n) * 1000 / (now - prev.at) : null;
      t.root.dataset.state = c.state;
      t.cap.replaceChildren(
        OL.el("span", {}, OL.el("b", {text: c.camera}), ` · deployment `, OL.el("a", {href: `/deployments/${c.deployment_id}`, text: c.deployment_id})),
        OL.el("span", {class: "state " + c.state, text: c.state}),
        OL.el("span", {class: "fps", text: `analysed ${fps === null ? "–" : fps.toFixed(1)} fps`}),
        OL.el("span", {class: "drops" + (k.queue_drops ? " has-drops" : ""), text: `dropped ${OL.fmtNum(k.queue_drops ?? 0)} frame(s)`}),
        OL.el("span", {text: `frames ${OL.fmtNum(k.frames_analysed)} · faces seen ${OL.fmtNum(k.faces_seen)} · quality-rejected ${OL.fmtNum(k.quality_rejected)}`}),
        c.detail && c.state !== "live" ? OL.el("span", {class: "detail " + c.state, text: (c.state === "failed" ? "failed: " : c.state === "ended" ? "ended: " : "") + c.detail}) : "");
    }
    for (const [key, t] of known) if (!seen.has(key)) { t.root.remove(); known.delete(key); }
  }
  refresh(); setInterval(refresh, 2000);
  document.addEventListener("openlfr:camera", refresh);
});
