"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const tiles = document.getElementById("tiles"), previews = tiles.dataset.previews === "yes";
  const known = new Map(), stores = new Map();
  // the alert store as each running deployment sees it: pushed when it goes down or comes back (the
  // push reaches consoles already open while the database cannot log anyone in), and in /api/cameras
  function showStores() {
    const bad = [...stores].filter(([, st]) => st && st.state !== "ok");
    const banner = document.getElementById("store-banner");
    banner.hidden = bad.length === 0;
    banner.replaceChildren(...bad.map(([dep, st]) => OL.el("span", {class: "store-" + st.state, dataset: {deployment: dep}, text: OL.storeText(dep, st)})));
  }
  document.addEventListener("openlfr:store", (e) => { stores.set(String(e.detail.deployment_id), e.detail); showStores(); });
  async function refresh() {
    let r;
    try { r = await OL.api("GET", "/api/cameras"); } catch (e) { return; }
    document.getElementById("no-cameras").hidden = r.count > 0;
    const seen = new Set();
    stores.clear();
    for (const c of r.data) if (c.store) stores.set(String(c.deployment_id), c.store);
    showStores();
    for (const c of r.data) {
      const key = `${c.deployment_id}/${c.camera}`; seen.add(key);
      let t = known.get(key);
      if (!t) {
        const img = previews ? OL.el("img", {alt: `camera ${c.camera} (faces pixelated)`}) : OL.el("div", {class: "muted no-preview", text: "preview not shown to auditors"});
        const cap = OL.el("div", {class: "cap"});
        const big = OL.el("button", {class: "small ghost enlarge", title: "Enlarge to full screen", "aria-label": `enlarge camera ${c.camera}`, text: "⛶"});
        t = {root: OL.el("div", {class: "tile", dataset: {key}}, img, big, cap), img, cap, streaming: false};
        big.addEventListener("click", (e) => { e.stopPropagation(); toggleFull(t.root); });
        img.addEventListener("click", () => toggleFull(t.root));
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
        c.store && c.store.state !== "ok" ? OL.el("span", {class: "store-" + c.store.state, text: c.store.state === "unavailable" ? "store unavailable" : "store back, flushing"}) : "",
        OL.el("span", {class: "fps", text: `analysed ${fps === null ? "–" : fps.toFixed(1)} fps`}),
        OL.el("span", {class: "drops" + (k.queue_drops ? " has-drops" : ""), text: `dropped ${OL.fmtNum(k.queue_drops ?? 0)} frame(s)`}),
        OL.el("span", {text: `frames ${OL.fmtNum(k.frames_analysed)} · faces seen ${OL.fmtNum(k.faces_seen)} · quality-rejected ${OL.fmtNum(k.quality_rejected)}`}),
        c.detail && c.state !== "live" ? OL.el("span", {class: "detail " + c.state, text: (c.state === "failed" ? "failed: " : c.state === "ended" ? "ended: " : "") + c.detail}) : "");
    }
    for (const [key, t] of known) if (!seen.has(key)) { t.root.remove(); known.delete(key); }
  }
  // --- enlarge a tile: the page's full screen (and the browser's when it allows it) ------------
  function toggleFull(root) {
    const on = !root.classList.contains("enlarged");
    for (const x of tiles.querySelectorAll(".tile.enlarged")) x.classList.remove("enlarged");
    root.classList.toggle("enlarged", on);
    document.body.classList.toggle("has-enlarged", on);
    if (on && root.requestFullscreen) root.requestFullscreen().catch(() => { /* the page-level enlargement stays */ });
    else if (!on && document.fullscreenElement) document.exitFullscreen().catch(() => {});
  }
  document.addEventListener("keydown", (e) => { const x = tiles.querySelector(".tile.enlarged"); if (e.key === "Escape" && x) toggleFull(x); });
  document.addEventListener("fullscreenchange", () => { const x = tiles.querySelector(".tile.enlarged"); if (!document.fullscreenElement && x) { x.classList.remove("enlarged"); document.body.classList.remove("has-enlarged"); } });

  // --- the alert rail: cards stay until acknowledged; a click opens the review ------------------
  const rail = document.getElementById("rail-cards");
  function railCount() {
    const n = rail ? rail.children.length : 0;
    document.getElementById("rail-count").textContent = n; document.getElementById("rail-count").hidden = n === 0;
    document.getElementById("rail-empty").hidden = n > 0;
  }
  function addCard(a) {
    if (!rail || rail.querySelector(`[data-alert="${CSS.escape(String(a.alert_id))}"]`)) return;
    const open = () => { location.href = "/alerts/" + encodeURIComponent(a.alert_id); };
    const ack = OL.el("button", {class: "small ghost ack", text: "Acknowledge", onclick: (e) => { e.stopPropagation(); card.remove(); railCount(); }});
    const card = OL.el("div", {class: "rail-card", role: "button", tabindex: "0", dataset: {alert: a.alert_id}, onclick: open,
                                onkeydown: (e) => { if (e.key === "Enter") open(); }},
      OL.el("div", {class: "rail-who"}, OL.el("b", {text: a.name || a.person_id || "watchlisted person"})),
      OL.el("div", {class: "muted", text: `${a.camera} · deployment ${a.deployment_id ?? "–"} · ${OL.fmtTime(a.occurred_at)}`}),
      OL.el("div", {text: `score ${OL.fmtScore(a.score)} (threshold ${OL.fmtThreshold(a.threshold)})`}),
      OL.el("div", {class: "rail-actions"}, OL.el("a", {href: "/alerts/" + encodeURIComponent(a.alert_id), text: "Review", onclick: (e) => e.stopPropagation()}), ack));
    rail.prepend(card); railCount();
  }
  document.addEventListener("openlfr:alert", (e) => addCard(e.detail));
  refresh(); setInterval(refresh, 2000);
  document.addEventListener("openlfr:camera", refresh);
});
