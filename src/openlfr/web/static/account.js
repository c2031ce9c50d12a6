"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const tbody = document.querySelector("#token-table tbody");
  async function load() {
    const r = await OL.api("GET", "/api/auth/tokens");
    tbody.replaceChildren(...r.data.filter((t) => t.active).map((t) => OL.el("tr", {}, OL.el("td", {text: t.name}), OL.el("td", {}, OL.el("code", {text: t.prefix + "…"})),
      OL.el("td", {text: OL.fmtTime(t.created_at)}), OL.el("td", {text: OL.fmtTime(t.last_used_at)}),
      OL.el("td", {}, OL.el("button", {class: "small ghost", onclick: async () => { await OL.api("DELETE", `/api/auth/tokens/${t.id}`); load(); }}, "Revoke")))));
  }
  document.getElementById("token-form").addEventListener("submit", async (e) => {
    e.preventDefault(); const f = e.target.elements;
    const t = await OL.api("POST", "/api/auth/tokens", {name: f.name.value, expires_days: f.expires_days.value ? Number(f.expires_days.value) : null});
    const p = document.getElementById("new-token"); p.textContent = `New token (copy it now, it is not shown again): ${t.token}`; p.hidden = false; e.target.reset(); load();
  });
  document.getElementById("pw-form").addEventListener("submit", async (e) => {
    e.preventDefault(); const f = e.target.elements, msg = document.getElementById("pw-msg");
    try { await OL.api("POST", "/api/auth/password", {old_password: f.old_password.value, new_password: f.new_password.value}); msg.textContent = "Password changed."; e.target.reset(); }
    catch (err) { msg.textContent = err.message; }
  });
  load();
});
