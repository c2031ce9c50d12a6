"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const next = new URLSearchParams(location.search).get("next");
  // only a path on this origin: "/\\evil.example", "//evil", "https:..." and anything the URL parser resolves
  // to another origin fall back to "/"
  const safeNext = (n) => {
    if (!n || !n.startsWith("/") || /[\\\u0000-\u001f]/.test(n)) return "/";
    try {
      const u = new URL(n, location.origin);
      return u.origin === location.origin ? u.pathname + u.search + u.hash : "/";
    } catch (e) { return "/"; }
  };
  const go = () => { location.href = safeNext(next); };
  const lf = document.getElementById("login-form");
  if (lf) lf.addEventListener("submit", async (e) => {
    e.preventDefault(); OL.clearError("login-error");
    const f = new FormData(lf);
    try { await OL.api("POST", "/api/auth/login", {username: f.get("username"), password: f.get("password")}, {noRedirect: true}); go(); }
    catch (err) { OL.showError("login-error", err); }
  });
  const sf = document.getElementById("setup-form");
  if (sf) {
    const tok = new URLSearchParams(location.search).get("token");
    if (tok) sf.elements.token.value = tok;
    sf.addEventListener("submit", async (e) => {
      e.preventDefault(); OL.clearError("setup-error");
      const f = new FormData(sf);
      try { await OL.api("POST", "/api/auth/setup", {token: f.get("token"), username: f.get("username"), password: f.get("password"), display_name: f.get("display_name") || ""}, {noRedirect: true}); location.href = "/users"; }
      catch (err) { OL.showError("setup-error", err); }
    });
  }
});
