// Webhook endpoints: add one (its secret shown once), rotate its secret, disable it.
import { announce, api, bindForm, cell, clean, el, fieldError, pagedList, query, ready, showErrors, statusBadge, withBase } from "./admin.js";

const form = document.getElementById("endpoint-form");
const table = document.getElementById("endpoint-table");
const secretBox = document.getElementById("secret-box");

// The secret goes in a box that takes the focus; "I have copied it" clears it for good.
function showSecret(endpoint, verb) {
  document.getElementById("secret-for").textContent = `${verb} for ${clean(endpoint.url)}.`;
  document.getElementById("secret-value").textContent = clean(endpoint.secret);
  secretBox.hidden = false;
  secretBox.focus();
  announce(`${verb}. The signing secret is shown once: copy it now.`);
}
document.getElementById("secret-hide").addEventListener("click", () => {
  document.getElementById("secret-value").textContent = "";
  secretBox.hidden = true;
  form.elements.url.focus();
});

// Events in the form's order (the order's life, then stock), whatever order the API keeps.
const EVENT_ORDER = [...form.querySelectorAll("input[name=events]")].map((input) => input.value);
function inFormOrder(events) {
  const rank = (name) => (EVENT_ORDER.includes(name) ? EVENT_ORDER.indexOf(name) : EVENT_ORDER.length);
  return [...events].sort((a, b) => rank(a) - rank(b));
}

function row(e) {
  const actions = el("div", { className: "row-actions" },
    el("a", { className: "button secondary", href: withBase(`/admin/webhooks/${encodeURIComponent(e.id)}`) }, "Deliveries", el("span", { className: "visually-hidden" }, ` for ${clean(e.url)}`)),
    el("button", { type: "button", className: "button secondary", "aria-label": `Rotate the secret of ${clean(e.url)}`, on: { click: () => rotate(e) } }, "Rotate secret"),
  );
  if (e.active) {
    actions.append(el("button", { type: "button", className: "button secondary", "aria-label": `Disable ${clean(e.url)}`, on: { click: () => disable(e) } }, "Disable"));
  }
  return el("tr", { dataset: { id: e.id } },
    cell("Address", el("span", {}, clean(e.url)), e.description ? el("p", { className: "hint" }, clean(e.description)) : ""),
    cell("Events", inFormOrder(e.events).map(clean).join(", ")),
    cell("Status", e.active ? statusBadge("active", "good") : statusBadge("disabled", "bad")),
    el("td", { dataset: { label: "Actions" } }, actions),
  );
}

function replaceRow(e) {
  const fresh = row(e);
  table.querySelector(`tr[data-id="${CSS.escape(e.id)}"]`).replaceWith(fresh);
  return fresh;
}

async function rotate(e) {
  try {
    const answer = await api.post(`/api/admin/webhook-endpoints/${encodeURIComponent(e.id)}/rotate-secret`);
    replaceRow(answer);
    showSecret(answer, "New secret");
  } catch (err) {
    showErrors(form, err);
  }
}

async function disable(e) {
  try {
    const answer = await api.patch(`/api/admin/webhook-endpoints/${encodeURIComponent(e.id)}`, { active: false });
    const fresh = replaceRow(answer);
    fresh.tabIndex = -1;
    fresh.focus();
    announce(`${clean(answer.url)} disabled: nothing more is sent to it.`);
  } catch (err) {
    showErrors(form, err);
  }
}

const list = pagedList({
  table,
  more: document.querySelector("[data-more]"),
  empty: document.querySelector("[data-empty]"),
  load: (cursor) => api.get(`/api/admin/webhook-endpoints${query({ cursor, limit: 50 })}`),
  draw: row,
});

bindForm(form, async (data) => {
  const events = data.getAll("events");
  if (!events.length) {
    const first = form.querySelector("input[name=events]");
    fieldError(form, first, "Choose at least one event.");
    return first.focus();
  }
  const made = await api.post("/api/admin/webhook-endpoints", {
    url: String(data.get("url")).trim(), events, description: String(data.get("description") || "").trim() || undefined,
  });
  form.reset();
  table.tBodies[0].prepend(row(made));
  document.querySelector("[data-empty]").hidden = true;
  showSecret(made, "Endpoint added");
});

list.reload().finally(ready);
