// Telling the customer what happened: polite announcements, a page-level alert that
// takes focus, and inline field errors from the API's fields[].path.
import { humanMessage } from "./validation.js";

export function announce(message) {
  const region = document.getElementById("announcer");
  if (!region) return;
  region.textContent = "";
  // A fresh text node after a tick makes screen readers announce repeats too.
  setTimeout(() => { region.textContent = message; }, 50);
}

export function showPageError(message) {
  const box = document.getElementById("page-error");
  if (!box) return;
  box.textContent = message;
  box.hidden = false;
  box.focus();
}

export function clearPageError() {
  const box = document.getElementById("page-error");
  if (box) { box.hidden = true; box.textContent = ""; }
}

export function clearFieldErrors(root) {
  root.querySelectorAll("[data-error-for]").forEach((el) => { el.textContent = ""; });
  root.querySelectorAll("[aria-invalid]").forEach((el) => el.removeAttribute("aria-invalid"));
}

// A path like ["body", "address", "zip_code"] or ["address", "zip_code"] names the
// input whose data-path (or name) is its tail.
function inputFor(root, path) {
  const parts = path.filter((p) => p !== "body" && typeof p === "string");
  for (let i = 0; i < parts.length; i += 1) {
    const key = parts.slice(i).join(".");
    const candidates = [
      ...root.querySelectorAll(`[data-path="${CSS.escape(key)}"]`),
      ...root.querySelectorAll(`[name="${CSS.escape(key)}"]`),
    ];
    const el = candidates.find((c) => !c.disabled && !c.hidden);
    if (el) return el;
  }
  return null;
}

// Shows each field error next to its input; returns true if any matched an input.
// Focus goes to the first invalid input in document order.
export function showFieldErrors(root, fields) {
  clearFieldErrors(root);
  const invalid = [];
  for (const field of fields || []) {
    const input = inputFor(root, field.path || []);
    if (!input) continue;
    input.setAttribute("aria-invalid", "true");
    const slot = root.querySelector(`[data-error-for="${CSS.escape(input.dataset.path || input.name)}"]`);
    if (slot && !slot.textContent) slot.textContent = humanMessage(input, field);
    invalid.push(input);
  }
  if (invalid.length) {
    invalid.sort((a, b) => (a.compareDocumentPosition(b) & Node.DOCUMENT_POSITION_FOLLOWING ? -1 : 1));
    invalid[0].focus();
    return true;
  }
  return false;
}

// One place that turns an ApiError into what the customer sees.
export function reportError(err, root) {
  if (root && err.fields && err.fields.length && showFieldErrors(root, err.fields)) {
    announce(err.message);
    return;
  }
  showPageError(err.message || "Something went wrong. Please try again.");
}
