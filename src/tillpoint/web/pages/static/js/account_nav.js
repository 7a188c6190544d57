// The header's account links on every page: Sign in / Register / Forgot password for
// guests, Your account / Sign out once the session says the shopper is signed in.
import { api, resetSession, session, withBase } from "./api.js";
import { showPageError } from "./feedback.js";

function show(registered) {
  document.querySelectorAll("[data-nav-guest]").forEach((el) => { el.hidden = registered; });
  document.querySelectorAll("[data-nav-registered]").forEach((el) => { el.hidden = !registered; });
}

async function signOut() {
  try {
    const guest = await api.post("/api/auth/logout");
    resetSession(guest);
    location.assign(withBase("/account/login?signed_out=1"));
  } catch (err) {
    showPageError(err.message);
  }
}

document.querySelectorAll("[data-sign-out]").forEach((button) => button.addEventListener("click", signOut));
session().then((s) => show(s.kind === "registered")).catch(() => show(false));
