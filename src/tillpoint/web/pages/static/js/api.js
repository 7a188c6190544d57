// The JSON API as the pages use it: one session (and its CSRF token) per page load,
// the token sent on every write, errors turned into ApiError with the API's fields.

let sessionPromise = null;

// The prefix the shop is served under ("" at the root, "/shop" when a host app mounts it
// there), set by the page template on <html data-base-path>. Every path of ours that the
// pages fetch, link or open goes through withBase(); api.* calls do so here.
export const basePath = document.documentElement.dataset.basePath || "";
export function withBase(path) {
  return path.startsWith("/") && !path.startsWith("//") ? basePath + path : path;
}

// Every 429 the shop sends says when to try again (retry_after, and Retry-After): the
// customer reads it in words, whichever limit it was.
function tooManyRequests(details, retryAfter) {
  const seconds = Number.parseInt((details && details.retry_after) ?? retryAfter, 10);
  if (!(seconds > 0)) return "Too many requests — please wait a moment and try again.";
  const wait = seconds < 120 ? `${seconds} second${seconds === 1 ? "" : "s"}` : `${Math.ceil(seconds / 60)} minutes`;
  return `Too many requests — try again in ${wait}.`;
}

export class ApiError extends Error {
  constructor(status, body, retryAfter = null) {
    const error = (body && body.error) || {};
    super(status === 429 ? tooManyRequests(error.details, retryAfter) : error.message || `Request failed (${status}).`);
    this.status = status;
    this.code = error.code || "http_" + status;
    this.fields = Array.isArray(error.fields) ? error.fields : [];
    this.details = error.details || {};
    this.body = body;
  }
}

// After signing in or out the server hands out a new session and token.
export function resetSession(next) {
  sessionPromise = next ? Promise.resolve(next) : null;
}

export function session() {
  if (!sessionPromise) {
    sessionPromise = request("GET", "/api/session").catch((err) => {
      sessionPromise = null;
      throw err;
    });
  }
  return sessionPromise;
}

// The double-submit cookie is readable on purpose. Another tab of the same customer
// may have been handed a newer token since this page loaded: the cookie has it. Where the
// shop sets the __Host- cookie (https) a plain "csrf-token" beside it is not ours.
function csrfCookie() {
  const found = new Map();
  for (const part of document.cookie.split(";")) {
    const [name, ...rest] = part.trim().split("=");
    if (!found.has(name)) found.set(name, decodeURIComponent(rest.join("=")));
  }
  return found.get("__Host-csrf-token") || found.get("csrf-token") || null;
}

// One renewal at a time: a refresh token works once, and presenting it twice (two
// requests renewing at once) would end the session as if it had been stolen.
let renewing = null;
function renewAccess() {
  if (!renewing) {
    renewing = send("POST", "/api/auth/refresh", {}, {}).finally(() => { renewing = null; });
  }
  return renewing;
}

// Writes wait for the session so the CSRF cookie and token exist; a write refused for
// its token is retried once with a fresh session. A signed-in shopper's short-lived
// access token is renewed (POST /api/auth/refresh) when the API says it expired.
export async function request(method, url, body, options = {}) {
  try {
    return await send(method, url, body, options);
  } catch (err) {
    if (err.code === "access_token_expired" && !options.refreshed) {
      await renewAccess();
      return request(method, url, body, { ...options, refreshed: true });
    }
    if (err.code !== "csrf_failed" || options.retried) throw err;
    sessionPromise = null;
    return send(method, url, body, { ...options, retried: true });
  }
}

async function send(method, url, body, options) {
  const headers = { Accept: "application/json" };
  if (method !== "GET" && method !== "HEAD") {
    const s = await session();
    headers[s.csrf_header || "X-CSRF-Token"] = csrfCookie() || s.csrf_token;
  }
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (options.ifMatch !== undefined && options.ifMatch !== null) headers["If-Match"] = `"${options.ifMatch}"`;
  if (options.idempotencyKey) headers["Idempotency-Key"] = options.idempotencyKey;
  let response;
  try {
    response = await fetch(withBase(url), {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
    });
  } catch (err) {
    throw new ApiError(0, { error: { code: "network_error", message: "We could not reach the shop. Check your connection and try again." } });
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch (err) { data = null; }
  }
  if (!response.ok) throw new ApiError(response.status, data, response.headers.get("Retry-After"));
  return data;
}

export const api = {
  get: (url, options) => request("GET", url, undefined, options),
  post: (url, body, options) => request("POST", url, body === undefined ? {} : body, options),
  patch: (url, body, options) => request("PATCH", url, body, options),
  put: (url, body, options) => request("PUT", url, body, options),
  delete: (url, options) => request("DELETE", url, undefined, options),
};

// Minor units -> "$12.50". Intl formats a decimal *string* exactly, so no float ever
// touches an amount.
const formatters = new Map();
export function money(amount, currency) {
  let format = formatters.get(currency);
  if (!format) {
    format = new Intl.NumberFormat(document.documentElement.dataset.moneyLocale || "en-US", { style: "currency", currency });
    formatters.set(currency, format);
  }
  const digits = format.resolvedOptions().maximumFractionDigits;
  const negative = amount < 0;
  let text = String(Math.abs(amount)).padStart(digits + 1, "0");
  if (digits > 0) text = text.slice(0, -digits) + "." + text.slice(-digits);
  return format.format((negative ? "-" : "") + text);
}

export function newIdempotencyKey() {
  return crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random().toString(16).slice(2);
}
