// The account area's small forms: sign in, register, forgot password, reset password,
// confirm e-mail. Each posts to /api/auth and says what happened in words.
import { api, resetSession, withBase } from "./api.js";
import { announce, clearFieldErrors, clearPageError, reportError, showPageError } from "./feedback.js";

const TOKEN_CODES = new Set(["token_invalid", "token_used", "token_expired"]);

function values(form) {
  return Object.fromEntries(new FormData(form).entries());
}

// Only a page of this shop: "/account", never "//elsewhere" or "https://…".
function nextPage() {
  const next = new URL(location.href).searchParams.get("next") || "";
  return /^\/(?![/\\])/.test(next) ? next : withBase("/account");
}

// The link's token, then the address bar without it (no token in history or referrers).
function takeToken() {
  const url = new URL(location.href);
  const token = url.searchParams.get("token") || sessionStorage.getItem("account-token") || "";
  if (url.searchParams.has("token")) {
    sessionStorage.setItem("account-token", token);
    url.searchParams.delete("token");
    history.replaceState(null, "", url.pathname + url.search);
  }
  return token;
}

function signedIn(body) {
  resetSession({ kind: "registered", user_id: body.user.id, cart_id: body.cart_id, csrf_token: body.csrf_token, csrf_header: body.csrf_header });
}

function done(message) {
  const box = document.getElementById("form-done");
  const status = document.getElementById("form-status");
  status.textContent = message;
  if (box) box.hidden = false;
  status.focus();
  announce(message);
}

function tokenProblem(err, form) {
  if (!TOKEN_CODES.has(err.code)) return false;
  form.hidden = true;
  const help = document.querySelector("[data-token-help]");
  if (help) help.hidden = false;
  showPageError(err.message);
  return true;
}

function handle(form, submit) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearPageError();
    clearFieldErrors(form);
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      await submit(values(form));
    } catch (err) {
      if (!tokenProblem(err, form)) reportError(err, form);
    } finally {
      button.disabled = false;
    }
  });
}

const forms = {
  "login-form": async (data) => {
    signedIn(await api.post("/api/auth/login", { email: data.email, password: data.password }));
    location.assign(nextPage());
  },
  "register-form": async (data) => {
    signedIn(await api.post("/api/auth/register", { email: data.email, password: data.password }));
    location.assign(withBase("/account?welcome=1"));
  },
  "forgot-form": async (data) => {
    const answer = await api.post("/api/auth/password-reset", { email: data.email });
    done(answer.message);
  },
  "reset-form": async (data) => {
    const answer = await api.post("/api/auth/password-reset/confirm", { token: token, password: data.password });
    sessionStorage.removeItem("account-token");
    document.getElementById("reset-form").hidden = true;
    done(answer.message);
  },
  "verify-form": async () => {
    const answer = await api.post("/api/auth/verify-email", { token: token });
    sessionStorage.removeItem("account-token");
    document.getElementById("verify-form").hidden = true;
    done(answer.message);
  },
};

const needsToken = document.getElementById("reset-form") || document.getElementById("verify-form");
const token = needsToken ? takeToken() : "";
if (needsToken && !token) {
  tokenProblem({ code: "token_invalid", message: "This link is not complete. Ask for a new one." }, needsToken);
}
for (const [id, submit] of Object.entries(forms)) {
  const form = document.getElementById(id);
  if (form) handle(form, submit);
}
if (new URL(location.href).searchParams.get("signed_out")) {
  const status = document.getElementById("form-status");
  if (status) status.textContent = "You are signed out.";
}
document.documentElement.dataset.ready = "true";
