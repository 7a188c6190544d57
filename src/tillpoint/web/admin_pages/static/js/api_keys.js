// API keys for /api/v1: create one (its secret shown once), revoke one.
import { announce, api, bindForm, cell, clean, el, fieldError, ready, showErrors, statusBadge, when } from "./admin.js";

const form = document.getElementById("key-form");
const table = document.getElementById("key-table");
const empty = document.querySelector("[data-empty]");
const secretBox = document.getElementById("secret-box");

// The secret goes in a box that takes the focus; "I have copied it" clears it for good.
function showSecret(made) {
  document.getElementById("secret-for").textContent = `Key “${clean(made.name)}” created.`;
  document.getElementById("secret-value").textContent = clean(made.secret);
  secretBox.hidden = false;
  secretBox.focus();
  announce("Key created. It is shown once: copy it now.");
}
document.getElementById("secret-hide").addEventListener("click", () => {
  document.getElementById("secret-value").textContent = "";
  secretBox.hidden = true;
  form.elements.name.focus();
});

function row(k) {
  const actions = el("div", { className: "row-actions" });
  if (!k.revoked_at) {
    actions.append(el("button", { type: "button", className: "button secondary", "aria-label": `Revoke ${clean(k.name)}`, on: { click: () => revoke(k) } }, "Revoke"));
  }
  return el("tr", { dataset: { id: k.id } },
    cell("Name", clean(k.name)),
    cell("Key", el("code", {}, clean(k.display))),
    cell("Scopes", k.scopes.map(clean).join(", ")),
    cell("Last used", k.last_used_at ? when(k.last_used_at) : "never"),
    cell("Status", k.revoked_at ? statusBadge("revoked", "bad") : statusBadge("active", "good")),
    el("td", { dataset: { label: "Actions" } }, actions),
  );
}

async function revoke(k) {
  if (!window.confirm(`Revoke “${clean(k.name)}”? Requests with it are refused at once.`)) return;
  try {
    const answer = await api.delete(`/api/admin/api-keys/${encodeURIComponent(k.id)}`);
    const fresh = row(answer);
    table.querySelector(`tr[data-id="${CSS.escape(k.id)}"]`).replaceWith(fresh);
    fresh.tabIndex = -1;
    fresh.focus();
    announce(`${clean(answer.name)} revoked: it is refused from now on.`);
  } catch (err) {
    showErrors(form, err);
  }
}

async function load() {
  const answer = await api.get("/api/admin/api-keys");
  table.tBodies[0].replaceChildren(...answer.items.map(row));
  empty.hidden = answer.items.length > 0;
}

bindForm(form, async (data) => {
  const scopes = data.getAll("scopes");
  if (!scopes.length) {
    const first = form.querySelector("input[name=scopes]");
    fieldError(form, first, "Choose at least one.");
    return first.focus();
  }
  const made = await api.post("/api/admin/api-keys", { name: String(data.get("name")).trim(), scopes });
  form.reset();
  table.tBodies[0].prepend(row(made));
  empty.hidden = true;
  showSecret(made);
});

load().catch((err) => showErrors(form, err)).finally(ready);
