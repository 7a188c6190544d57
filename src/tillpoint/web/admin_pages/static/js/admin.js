// What every admin page shares: building elements safely (text only, never HTML), the
// API's errors said next to their fields in plain words, paging, sign out, and the
// sign-in redirect once the session has ended.
// Relative (served at <base>/admin/static/js/): the shop may be mounted under a prefix.
import { api, money, resetSession, withBase } from "../../../static/js/api.js";
import { announce, clearPageError, showPageError } from "../../../static/js/feedback.js";

export { api, announce, clearPageError, money, showPageError, withBase };

export const shopCurrency = document.documentElement.dataset.currency || "USD";

// el("td", { className: "num", dataset: { label: "Total" } }, "text", node): children are
// text (always as text nodes: names from the database may hold "<script>") or nodes.
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null) continue;
    if (key === "dataset") Object.assign(node.dataset, value);
    else if (key === "on") for (const [type, fn] of Object.entries(value)) node.addEventListener(type, fn);
    else if (key in node && typeof value !== "string") node[key] = value;
    else if (key === "className" || key === "textContent" || key === "hidden" || key === "type") node[key] = value;
    else node.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// Control characters (a NUL, an escape sequence) shown as visible marks, not swallowed.
export function clean(text) {
  return String(text ?? "").replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, "\ufffd");
}

export function cell(label, ...children) {
  return el("td", { dataset: { label } }, ...children.map((c) => (c instanceof Node ? c : clean(c))));
}

export function when(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? clean(iso) : d.toLocaleString("en-GB", { timeZone: "UTC", dateStyle: "medium", timeStyle: "short" }) + " UTC";
}

export function ready() {
  document.documentElement.dataset.ready = "true";
}

// After the session ends (signed out elsewhere, expired) any call sends us to sign in.
export function handleAuth(err) {
  // On the sign-in page itself a 401 is a wrong password, said as such.
  if (location.pathname === withBase("/admin/login")) return false;
  if (err && err.status === 401 && err.code !== "access_token_expired") {
    location.assign(withBase(`/admin/login?next=${encodeURIComponent(location.pathname + location.search)}`));
    return true;
  }
  return false;
}

function labelOf(input) {
  const label = input.id ? document.querySelector(`label[for="${CSS.escape(input.id)}"]`) : null;
  const text = label ? label.firstChild.textContent.replace(/\(optional\)/i, "").trim() : input.name;
  return text || "this field";
}

// The API's validator codes in the owner's words; anything else is already in words.
export function fieldMessage(input, field) {
  const label = labelOf(input);
  const lower = label.charAt(0).toLowerCase() + label.slice(1);
  switch (field.code) {
    case "missing": case "string_too_short": case "datetime_type": case "date_type": case "string_type": return `Enter the ${lower}.`;
    case "string_too_long": case "too_long": return `${label} is too long.`;
    case "string_pattern_mismatch": return `${label} has characters it cannot contain.`;
    case "int_parsing": case "int_type": case "int_from_float": return `${label} must be a whole number.`;
    case "greater_than_equal": case "greater_than": return `${label} is too small.`;
    case "less_than_equal": case "less_than": return `${label} is too large.`;
    case "url_parsing": case "url_scheme": case "url_type": return "Enter a web address starting with https://.";
    case "datetime_from_date_parsing": case "datetime_parsing": case "date_from_datetime_parsing": return `Enter the ${lower} as a date.`;
    default: return clean(field.message || `Check the ${lower}.`);
  }
}

// A field path ["body", "variants", 0, "sku"] names the input whose data-path is
// "variants.0.sku", or failing that the one named for its longest tail.
function inputFor(root, path) {
  const parts = path.filter((p) => p !== "body" && p !== "query").map(String);
  // Longest first: "variants.0.sku", then its tails, then without a trailing list index
  // (a repeated query parameter's error names its position: ["event_type", 0]).
  for (let end = parts.length; end > 0; end -= 1) {
    for (let start = 0; start < end; start += 1) {
      const key = parts.slice(start, end).join(".");
      const found = [...root.querySelectorAll(`[data-path="${CSS.escape(key)}"], [name="${CSS.escape(key)}"]`)]
        .find((c) => !c.disabled && c.type !== "hidden");
      if (found) return found;
    }
  }
  return null;
}

export function clearErrors(root) {
  root.querySelectorAll("[data-error-for]").forEach((slot) => { slot.textContent = ""; });
  root.querySelectorAll("[aria-invalid]").forEach((input) => input.removeAttribute("aria-invalid"));
}

export function fieldError(root, input, message) {
  input.setAttribute("aria-invalid", "true");
  const slot = root.querySelector(`[data-error-for="${CSS.escape(input.dataset.path || input.name)}"]`);
  if (slot && !slot.textContent) slot.textContent = message;
}

// Conflicts the API answers without a field path, and the field they are about.
const CODE_FIELDS = { sku_taken: ["sku"], coupon_code_taken: ["code"], slug_taken: ["slug"] };

// Field errors next to their inputs (focus on the first); the rest as the page's alert.
export function showErrors(root, err) {
  if (handleAuth(err)) return;
  clearErrors(root);
  const invalid = [];
  const fields = err.fields && err.fields.length ? err.fields
    : CODE_FIELDS[err.code] ? [{ path: CODE_FIELDS[err.code], code: err.code, message: err.message }] : [];
  for (const field of fields) {
    const input = inputFor(root, field.path || []);
    if (!input) continue;
    fieldError(root, input, fieldMessage(input, field));
    invalid.push(input);
  }
  if (!invalid.length) {
    showPageError(clean(err.message || "Something went wrong. Please try again."));
    return;
  }
  invalid.sort((a, b) => (a.compareDocumentPosition(b) & Node.DOCUMENT_POSITION_FOLLOWING ? -1 : 1));
  invalid[0].focus();
  announce(clean(err.message));
}

// Empty required fields said before anything is sent; false if there were any.
export function requireFields(form) {
  const empty = [...form.querySelectorAll("input[required], select[required], textarea[required]")]
    .filter((input) => !input.disabled && (input.type === "checkbox" ? !input.checked : !String(input.value).trim()));
  empty.forEach((input) => fieldError(form, input, input.dataset.missing || fieldMessage(input, { code: "missing" })));
  if (empty.length) empty[0].focus();
  return !empty.length;
}

// Submit handling: errors cleared, the button held while the call runs, errors shown.
export function bindForm(form, submit) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearPageError();
    clearErrors(form);
    if (!requireFields(form)) return;
    const button = event.submitter || form.querySelector("button[type=submit]");
    if (button) button.disabled = true;
    try {
      await submit(new FormData(form), event.submitter);
    } catch (err) {
      showErrors(form, err);
    } finally {
      if (button) button.disabled = false;
    }
  });
}

// Money typed as "12.50" -> 1250 in minor units, exactly (no floats); null if malformed.
export function parseMoney(text, currency = shopCurrency) {
  const digits = new Intl.NumberFormat("en", { style: "currency", currency }).resolvedOptions().maximumFractionDigits;
  const value = String(text).trim().replace(/,/g, "");
  const match = /^(\d{1,12})(?:\.(\d*))?$/.exec(value);
  if (!match || (match[2] || "").length > digits) return null;
  return Number.parseInt(match[1] + (match[2] || "").padEnd(digits, "0"), 10);
}

// Minor units back to the plain "12.50" a form field shows.
export function moneyInput(amount, currency = shopCurrency) {
  if (amount === null || amount === undefined) return "";
  const digits = new Intl.NumberFormat("en", { style: "currency", currency }).resolvedOptions().maximumFractionDigits;
  const text = String(amount).padStart(digits + 1, "0");
  return digits ? `${text.slice(0, -digits)}.${text.slice(-digits)}` : text;
}

// A list that pages by cursor: load(cursor) -> {items, next_cursor}; draw(item) -> <tr>.
export function pagedList({ table, more, empty, load, draw }) {
  const body = table.tBodies[0];
  let cursor = null;
  async function fetchPage(reset) {
    if (reset) cursor = null;
    table.setAttribute("aria-busy", "true");
    try {
      const page = await load(cursor);
      if (reset) body.replaceChildren();
      const first = body.rows.length;
      page.items.forEach((item) => body.append(draw(item)));
      cursor = page.next_cursor;
      more.hidden = !cursor;
      if (empty) empty.hidden = body.rows.length > 0;
      return body.rows[first] || null;
    } catch (err) {
      if (!handleAuth(err)) showPageError(clean(err.message));
      return null;
    } finally {
      table.removeAttribute("aria-busy");
    }
  }
  more.addEventListener("click", async () => {
    const firstNew = await fetchPage(false);
    // Focus the first new row's link (or the row) so keyboard users carry on from there.
    const target = firstNew && (firstNew.querySelector("a, button") || firstNew);
    if (target) {
      if (target === firstNew) firstNew.tabIndex = -1;
      target.focus();
    }
    announce(more.hidden ? "All entries shown." : "More entries shown.");
  });
  return { reload: () => fetchPage(true) };
}

export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (Array.isArray(value)) value.forEach((v) => search.append(key, v));
    else if (value !== null && value !== undefined && value !== "") search.set(key, value);
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

export function statusBadge(text, tone) {
  return el("span", { className: "status", dataset: { tone: tone || "" } }, clean(String(text).replaceAll("_", " ")));
}

async function signOut(event) {
  event.preventDefault();
  try {
    resetSession(await api.post("/api/auth/logout"));
  } catch (err) {
    showPageError(clean(err.message));
    return;
  }
  location.assign(withBase("/admin/login?signed_out=1"));
}

document.querySelectorAll("form[data-sign-out]").forEach((form) => form.addEventListener("submit", signOut));
