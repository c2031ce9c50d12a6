"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const next = new URLSearchParams(location.search).get("next");
  const go = () => { location.href = (next && next.startsWith("/") && !next.startsWith("//")) ? next : "/"; };
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
