// Checks a shopper sees as they leave a field, in plain words, before anything is sent;
// and a guess at a mistyped e-mail domain ("exmaple.con" -> "example.com").

// Well-known mailbox domains: a typo within two edits of one of these is offered back.
const COMMON_DOMAINS = [
  "gmail.com", "googlemail.com", "yahoo.com", "hotmail.com", "outlook.com", "live.com",
  "msn.com", "icloud.com", "me.com", "aol.com", "proton.me", "protonmail.com", "gmx.com",
  "gmx.de", "web.de", "mail.com", "comcast.net", "yahoo.co.uk", "hotmail.co.uk", "example.com",
];
const TLD_FIXES = { con: "com", cmo: "com", ocm: "com", cm: "com", comm: "com", vom: "com", xom: "com", nte: "net", ent: "net", ogr: "org" };
const EMAIL_SHAPE = /^[^\s@]+@[^\s@]+\.[^\s@]{2,}$/;

// Damerau-Levenshtein (optimal string alignment): a swapped pair counts as one edit.
function distance(a, b) {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j += 1) d[0][j] = j;
  for (let i = 1; i <= a.length; i += 1) {
    for (let j = 1; j <= b.length; j += 1) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

// The domain the shopper probably meant, or null when theirs looks right.
export function suggestDomain(email) {
  const at = email.lastIndexOf("@");
  if (at < 1) return null;
  const typed = email.slice(at + 1).toLowerCase();
  if (!typed.includes(".") || COMMON_DOMAINS.includes(typed)) return null;
  const parts = typed.split(".");
  const tld = parts[parts.length - 1];
  if (TLD_FIXES[tld]) parts[parts.length - 1] = TLD_FIXES[tld];
  const fixed = parts.join(".");
  let best = null;
  let bestDistance = 3;
  for (const domain of COMMON_DOMAINS) {
    const d = distance(fixed, domain);
    if (d < bestDistance && d <= (domain.length > 6 ? 2 : 1)) { best = domain; bestDistance = d; }
  }
  if (best) return best;
  return fixed !== typed ? fixed : null;
}

function labelOf(input) {
  const label = input.id ? document.querySelector(`label[for="${CSS.escape(input.id)}"]`) : null;
  const text = label ? label.textContent.replace(/\(optional\)/i, "").trim() : input.name || "this field";
  return text.charAt(0).toLowerCase() + text.slice(1);
}

// What is wrong with one field, in words; "" when nothing is.
export function problemWith(input) {
  if (input.matches(":disabled") || input.hidden || input.type === "checkbox") return "";
  const value = (input.value || "").trim();
  if (!value) {
    if (!input.required) return "";
    return input.tagName === "SELECT" ? `Choose a ${labelOf(input)}.` : `Enter your ${labelOf(input)}.`;
  }
  if (input.type === "email" && !EMAIL_SHAPE.test(value)) return "Enter an email address like name@example.com.";
  if (input.type === "tel" && value.replace(/[^0-9]/g, "").length < 7) return "Enter a phone number with at least 7 digits, or leave it empty.";
  return "";
}

// The API's field errors in the validator's words ("String should have at least 3
// characters") are said again in the shopper's.
const VALIDATOR_CODES = new Set(["missing", "string_too_short", "string_too_long", "string_pattern_mismatch", "string_type", "value_error"]);
export function humanMessage(input, field) {
  if (!VALIDATOR_CODES.has(field.code)) return field.message;
  const own = problemWith(input);
  if (own) return own;
  if (field.code === "string_too_long") return `That ${labelOf(input)} is too long.`;
  if (field.code === "string_too_short" || field.code === "missing") return `Enter your ${labelOf(input)}.`;
  return `Check your ${labelOf(input)}.`;
}

function errorSlot(root, input) {
  const key = input.dataset.path || input.name;
  return root.querySelector(`[data-error-for="${CSS.escape(key)}"]`);
}

// Shows (or clears) the field's own message; returns whether it is fine.
export function checkField(root, input) {
  const problem = problemWith(input);
  const slot = errorSlot(root, input);
  if (slot) slot.textContent = problem;
  if (problem) input.setAttribute("aria-invalid", "true");
  else input.removeAttribute("aria-invalid");
  return !problem;
}

// Every field of `root` checked at once (before sending); focus goes to the first wrong one.
export function checkAll(root) {
  let first = null;
  for (const input of root.querySelectorAll("input[required], input[type=email], input[type=tel], select[required]")) {
    if (!checkField(root, input) && !first) first = input;
  }
  if (first) first.focus();
  return !first;
}

function offerDomain(root, input) {
  const box = root.querySelector(`[data-suggestion-for="${CSS.escape(input.name)}"]`);
  if (!box) return;
  box.replaceChildren();
  const domain = suggestDomain(input.value.trim());
  if (!domain) return;
  const button = document.createElement("button");
  button.type = "button";
  button.className = "button link";
  button.textContent = `Did you mean ${domain}?`;
  button.addEventListener("click", () => {
    const value = input.value.trim();
    input.value = `${value.slice(0, value.lastIndexOf("@") + 1)}${domain}`;
    box.replaceChildren();
    checkField(root, input);
    input.focus();
  });
  box.append(button);
}

// Wires the checks to leaving each field (and, once wrong, to typing it right again).
export function validateOnBlur(root) {
  root.addEventListener("focusout", (event) => {
    const input = event.target;
    if (!(input instanceof HTMLInputElement || input instanceof HTMLSelectElement)) return;
    if (!input.value && !input.hasAttribute("aria-invalid") && !input.dataset.touched) {
      // An untouched empty field is not an error until the shopper submits.
      if (input.type === "email") offerDomain(root, input);
      return;
    }
    checkField(root, input);
    if (input.type === "email") offerDomain(root, input);
  });
  root.addEventListener("input", (event) => {
    const input = event.target;
    if (input.dataset) input.dataset.touched = "true";
    if (input.getAttribute && input.getAttribute("aria-invalid") === "true" && !problemWith(input)) checkField(root, input);
  });
}
