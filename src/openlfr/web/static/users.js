"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const tbody = document.querySelector("#user-table tbody"), form = document.getElementById("user-form");
  async function load() {
    const r = await OL.api("GET", "/api/users?limit=500");
    tbody.replaceChildren(...r.data.map((u) => {
      const roleSel = OL.el("select", {onchange: async (e) => { try { await OL.api("PATCH", `/api/users/${u.id}`, {role: e.target.value}); OL.toast(`${u.username} is now ${e.target.value}`); } catch (err) { OL.toast(OL.human(err), "alert"); load(); } }},
        ["admin", "supervisor", "operator", "auditor"].map((x) => OL.el("option", {value: x, selected: x === u.role, text: x})));
      return OL.el("tr", {}, OL.el("td", {text: u.username}), OL.el("td", {text: u.display_name}), OL.el("td", {}, roleSel), OL.el("td", {text: u.active ? "yes" : "no"}),
        OL.el("td", {text: OL.fmtTime(u.last_login_at)}),
        OL.el("td", {}, OL.el("button", {class: "small ghost", onclick: async () => { try { await OL.api("PATCH", `/api/users/${u.id}`, {active: !u.active}); load(); } catch (err) { OL.toast(OL.human(err), "alert"); } }}, u.active ? "Deactivate" : "Activate"),
          " ", OL.el("button", {class: "small ghost", onclick: async () => { const pw = prompt(`New password for ${u.username} (10+ characters)`); if (!pw) return; try { await OL.api("PATCH", `/api/users/${u.id}`, {password: pw}); OL.toast("password reset"); } catch (err) { OL.toast(OL.human(err), "alert"); } }}, "Reset password")));
    }));
  }
  form.addEventListener("submit", async (e) => {
    e.preventDefault(); OL.clearError("user-error");
    const f = form.elements;
    try { await OL.api("POST", "/api/users", {username: f.username.value, display_name: f.display_name.value, role: f.role.value, password: f.password.value}); form.reset(); load(); }
    catch (err) { OL.showError("user-error", err); }
  });
  load();
});
