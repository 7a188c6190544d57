// The admin sign-in: POST /api/auth/login, then on to ?next= (a page of this shop only).
import { resetSession } from "../../../static/js/api.js";
import { api, announce, bindForm, clearErrors, ready, withBase } from "./admin.js";

// "/admin/orders?q=1" yes; "//elsewhere", "/\\elsewhere", "https://..." never.
function nextPage() {
  const next = new URL(location.href).searchParams.get("next") || "";
  return /^\/(?![/\\])[^\s\\]*$/.test(next) ? next : withBase("/admin");
}

const form = document.getElementById("login-form");
const status = document.getElementById("form-status");
if (new URL(location.href).searchParams.has("signed_out")) {
  status.textContent = "You have signed out.";
}

bindForm(form, async (data) => {
  const email = String(data.get("email") || "").trim();
  const password = String(data.get("password") || "");
  const body = await api.post("/api/auth/login", { email, password });
  resetSession({ kind: "registered", user_id: body.user.id, cart_id: body.cart_id, csrf_token: body.csrf_token, csrf_header: body.csrf_header });
  clearErrors(form);
  status.textContent = "Signed in.";
  announce("Signed in.");
  location.assign(nextPage());
});
ready();
