// OpenLFR console: shared helpers (API calls with CSRF, DOM building, push events, badge, sound).
"use strict";
const OL = (() => {
  const meta = (n) => (document.querySelector(`meta[name="${n}"]`) || {}).content || "";
  const csrf = meta("csrf-token"), role = meta("openlfr-role");
  const staff = ["admin", "supervisor", "operator"].includes(role);

  async function api(method, path, body, opts = {}) {
    const headers = {"Accept": "application/json"};
    if (method !== "GET" && csrf) headers["X-CSRF-Token"] = csrf;
    let payload = body;
    if (body !== undefined && !(body instanceof FormData)) { headers["Content-Type"] = "application/json"; payload = JSON.stringify(body); }
    const r = await fetch(path, {method, headers, body: payload, credentials: "same-origin"});
    if (r.status === 401 && !opts.noRedirect) { location.href = "/login?next=" + encodeURIComponent(location.pathname); throw new Error("not logged in"); }
    if (r.status === 204) return null;
    const ct = r.headers.get("content-type") || "";
    const data = ct.includes("json") ? await r.json() : await r.text();
    if (!r.ok) { const e = new Error((data && data.error && data.error.message) || r.statusText); e.code = data && data.error && data.error.code; e.status = r.status; throw e; }
    return data;
  }

  function el(tag, attrs, ...kids) {
    const n = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") n.className = v; else if (k === "text") n.textContent = v;
      else if (k.startsWith("on")) n.addEventListener(k.slice(2), v); else if (k === "dataset") Object.assign(n.dataset, v);
      else n.setAttribute(k, v === true ? "" : v);
    }
    for (const c of kids.flat()) if (c !== null && c !== undefined) n.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return n;
  }
  const fmtTime = (iso) => iso ? new Date(iso).toLocaleString() : "–";
  const fmtNum = (x, d = 0) => (x === null || x === undefined) ? "–" : Number(x).toLocaleString(undefined, {maximumFractionDigits: d, minimumFractionDigits: d});
  // One number style for the console (issue 19): thresholds and scores with 4 decimals; rates
  // (FPIR, FNIR, shares) as a percentage with 3 significant figures, never e-notation; intervals
  // as "low–high" in the same style; durations in minutes with one decimal.
  const fmtThreshold = (x) => (x === null || x === undefined || x === "") ? "–" : Number(x).toFixed(4);
  const fmtScore = fmtThreshold;
  function fmtRate(x) {
    if (x === null || x === undefined || x === "" || Number.isNaN(Number(x))) return "–";
    const p = 100 * Number(x);
    if (p === 0) return "0%";
    const digits = Math.max(0, Math.min(8, 2 - Math.floor(Math.log10(Math.abs(p)))));
    return Number(p.toFixed(digits)).toLocaleString("en-GB", {maximumFractionDigits: digits}) + "%";
  }
  const fmtInterval = (ci, f = fmtRate) => (ci && ci.length === 2 && ci[0] !== null && ci[1] !== null) ? `${f(ci[0])}–${f(ci[1])}` : "–";
  const fmtMinutes = (seconds) => (seconds === null || seconds === undefined) ? "–" : `${fmtNum(Number(seconds) / 60, 1)} min`;
  // the alert store as a run sees it (live status `store`, or a pushed `store` event)
  const storeText = (dep, st) => st.state === "unavailable"
    ? `Deployment ${dep}: alert store unavailable. Alerts and counters are kept in an encrypted local spool (${fmtNum(st.pending)} waiting) and written when it is back.`
    : st.state === "flushing" ? `Deployment ${dep}: alert store back; writing ${fmtNum(st.pending)} spooled item(s).` : "";
  const oneIn = (x) => (x && x > 0) ? `1 in ${Math.round(1 / x).toLocaleString()}` : "";
  // Readable model names (the registry's internal ids, with their weight digests, stay in the JSON).
  const MODEL_NAMES = {"dlib-resnet-v1": "dlib ResNet", "dlib-resnet-onnx": "dlib ResNet", "dlib-resnet": "dlib ResNet",
    "mobilefacenet-192": "MobileFaceNet-192", "dlib-hog": "dlib HOG", "dlib-mmod": "dlib CNN (MMOD)", "dlib-cnn": "dlib CNN (MMOD)",
    "yunet": "YuNet", "scrfd": "SCRFD", "mtcnn": "MTCNN", "blazeface": "BlazeFace", "fused": "dlib ResNet + MobileFaceNet-192 (fused)",
    "frfeature-512": "fr_feature 512-d", "fused-arcface": "fr_feature + MobileFaceNet-192 (fused)", "frdetect": "fr_detect", "fr_detect": "fr_detect", "fr_landmark": "fr_landmark"};
  function modelName(id) {
    if (!id) return "–";
    let s = String(id); const fused = s.startsWith("fused:") || s.startsWith("fused-arcface:");
    if (fused) s = s.slice(s.indexOf(":") + 1);
    const parts = s.split("+").map((p) => p.split(/[@/]/)[0]).filter((p) => p && p !== "flip" && !/^w[0-9.]+$/.test(p));
    const names = [...new Set(parts.map((p) => MODEL_NAMES[p] || p.replace(/-(short|full)$/, " ($1 range)")))];
    return names.join(" + ") + (fused ? " (fused)" : "");
  }
  function toast(text, cls, onclick) {
    const t = el("div", {class: "toast " + (cls || ""), text, role: "status", onclick: () => { t.remove(); if (onclick) onclick(); }});
    document.getElementById("toasts").append(t);
    setTimeout(() => t.remove(), 8000);
  }
  // Human messages: the server's message, with its first letter capitalised; the stable code stays
  // in the JSON and in a data attribute (for support), never in the sentence shown.
  const human = (err) => { const m = String((err && err.message) || "Something went wrong"); return m.charAt(0).toUpperCase() + m.slice(1); };
  function showError(id, err) { const p = document.getElementById(id); if (!p) { toast(human(err), "alert"); return; } p.textContent = human(err); if (err && err.code) p.dataset.code = err.code; p.hidden = false; }
  function clearError(id) { const p = document.getElementById(id); if (p) p.hidden = true; }

  // --- face images of a list page: declared once (one audit event for the page view), then each
  // fetched with the page view's token (an image not declared is audited on its own, as before).
  async function pageImages(page, paths) {
    if (!staff || !paths.length) return (p) => p;
    try {
      const r = await api("POST", "/api/image-views", {page, images: paths.slice(0, 500)});
      const covered = new Set(paths.slice(0, 500));
      return (p) => covered.has(p) ? `${p}?view=${encodeURIComponent(r.view)}` : p;
    } catch (e) { return (p) => p; }
  }

  // --- alert sound (Web Audio; no file) -------------------------------------------------------
  // Browsers keep audio locked until the user interacts with the page; the button says so until
  // a first click unlocks it ("sound: click to enable"), and "on" only when sound can really play.
  let audio = null;
  const soundOn = () => localStorage.getItem("openlfr.sound") !== "off";
  const soundState = () => !soundOn() ? "off" : (audio && audio.state === "running" ? "on" : "locked");
  function updateSound() {
    const st = document.getElementById("sound-toggle");
    if (!st) return;
    const s = soundState();
    st.dataset.state = s;
    st.textContent = s === "on" ? "sound: on" : (s === "off" ? "sound: off" : "sound: click to enable");
    st.title = s === "locked" ? "The browser blocks sound until you click on the page" : "Alert sound on/off";
  }
  function unlock() {
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      if (audio.state !== "running") audio.resume().then(updateSound, updateSound);
    } catch (e) { /* no audio device */ }
    updateSound();
  }
  function beep() {
    if (soundState() !== "on") return;
    try {
      const o = audio.createOscillator(), g = audio.createGain();
      o.type = "square"; o.frequency.value = 880; g.gain.value = 0.06;
      o.connect(g); g.connect(audio.destination); o.start();
      o.frequency.setValueAtTime(660, audio.currentTime + 0.15); o.stop(audio.currentTime + 0.3);
    } catch (e) { /* no audio device */ }
  }
  // any first click or key press unlocks the sound (the sound button handles its own clicks)
  for (const ev of ["click", "keydown"]) document.addEventListener(ev, (e) => { if (soundOn() && !(e.target.closest && e.target.closest("#sound-toggle"))) unlock(); }, {capture: true});

  // --- badge + push -----------------------------------------------------------------------------
  async function refreshBadge() {
    const b = document.getElementById("alert-badge");
    if (!b) return;
    try { const r = await api("GET", "/api/alerts?unadjudicated=true&limit=1", undefined, {noRedirect: true}); b.textContent = r.count; b.hidden = r.count === 0; } catch (e) { /* ignore */ }
  }
  let source = null;
  function connect() {
    if (!staff) return;
    source = new EventSource("/api/events");
    source.addEventListener("alert", (ev) => {
      const a = JSON.parse(ev.data);
      a.browser_at = Date.now() / 1000;
      window.__openlfrAlerts = (window.__openlfrAlerts || []).concat([a]);
      beep(); refreshBadge();
      if (!document.getElementById("alert-rail")) {  // the Live page shows its own rail of alert cards
        toast(`ALERT ${a.name || a.person_id} · ${a.camera} · score ${fmtScore(a.score)}`, "alert",
              () => { location.href = "/alerts/" + encodeURIComponent(a.alert_id); });
      }
      document.dispatchEvent(new CustomEvent("openlfr:alert", {detail: a}));
    });
    source.addEventListener("adjudicated", (ev) => { refreshBadge(); document.dispatchEvent(new CustomEvent("openlfr:adjudicated", {detail: JSON.parse(ev.data)})); });
    source.addEventListener("camera", (ev) => document.dispatchEvent(new CustomEvent("openlfr:camera", {detail: JSON.parse(ev.data)})));
    source.addEventListener("store", (ev) => document.dispatchEvent(new CustomEvent("openlfr:store", {detail: JSON.parse(ev.data)})));
    source.addEventListener("deployment", (ev) => document.dispatchEvent(new CustomEvent("openlfr:deployment", {detail: JSON.parse(ev.data)})));
    source.addEventListener("hello", () => { document.body.dataset.push = "connected"; });
  }

  // --- tiny SVG bar chart -----------------------------------------------------------------------
  function barChart(title, labels, series, colors) {
    const W = 420, H = 220, pad = 34, n = labels.length, k = series.length;
    const max = Math.max(1, ...series.flatMap((s) => s.values));
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg"); svg.setAttribute("width", W); svg.setAttribute("height", H);
    const add = (tag, a, text) => { const e = document.createElementNS(ns, tag); for (const [x, y] of Object.entries(a)) e.setAttribute(x, y); if (text !== undefined) e.textContent = text; svg.append(e); return e; };
    add("text", {x: 8, y: 16, "font-size": 13, "font-weight": 600}, title);
    const bw = (W - 2 * pad) / Math.max(1, n), w = Math.max(4, bw / (k + 0.6));
    labels.forEach((lab, i) => {
      series.forEach((s, j) => {
        const v = s.values[i] || 0, h = (H - 2 * pad - 10) * v / max, x = pad + i * bw + j * w + 2, y = H - pad - h;
        add("rect", {x, y, width: w - 2, height: h, fill: colors[j]});
        add("text", {x: x + (w - 2) / 2, y: y - 3, "font-size": 10, "text-anchor": "middle"}, v);
      });
      add("text", {x: pad + i * bw + bw / 2, y: H - pad + 14, "font-size": 10, "text-anchor": "middle"}, String(lab).slice(0, 14));
    });
    add("line", {x1: pad, y1: H - pad, x2: W - pad, y2: H - pad, stroke: "#999"});
    series.forEach((s, j) => { add("rect", {x: W - 150, y: 8 + j * 14, width: 10, height: 10, fill: colors[j]}); add("text", {x: W - 136, y: 17 + j * 14, "font-size": 11}, s.name); });
    return svg;
  }

  document.addEventListener("DOMContentLoaded", () => {
    const lo = document.getElementById("logout");
    if (lo) lo.addEventListener("click", async () => { try { await api("POST", "/api/auth/logout"); } finally { location.href = "/login"; } });
    const st = document.getElementById("sound-toggle");
    if (st) {
      updateSound();
      st.addEventListener("click", (e) => {
        e.stopPropagation();
        const s = soundState();
        if (s === "locked") { unlock(); return; }  // the first click enables sound; it does not turn it off
        localStorage.setItem("openlfr.sound", s === "on" ? "off" : "on");
        if (soundOn()) { unlock(); setTimeout(beep, 50); }
        updateSound();
      });
    }
    if (role) { refreshBadge(); connect(); }
  });
  return {api, el, pageImages, fmtTime, fmtNum, fmtRate, fmtThreshold, fmtScore, fmtInterval, fmtMinutes, modelName, oneIn, toast, human,
          storeText, showError, clearError, barChart, role, staff, refreshBadge, soundState};
})();
