// The audit trail: filters the API has (event type, entity, user, dates), paging, and
// "Verify chain" (GET /api/admin/audit-logs/verify) with its result in words.
import {
  announce, api, bindForm, cell, clean, clearErrors, clearPageError, el, pagedList, query,
  ready, statusBadge, when,
} from "./admin.js";

const form = document.getElementById("audit-filters");
const table = document.getElementById("audit-table");
const result = document.getElementById("verify-result");
let filters = {};

function details(entry) {
  const meta = Object.keys(entry.metadata || {}).length ? JSON.stringify(entry.metadata, null, 1) : "";
  return el("div", {},
    meta ? el("pre", {}, clean(meta)) : null,
    entry.ip_address ? el("p", { className: "hint" }, `from ${clean(entry.ip_address)}`) : null,
  );
}

function row(entry) {
  return el("tr", {},
    cell("When", when(entry.timestamp)),
    cell("Event", el("code", {}, clean(entry.event_type)), " ", clean(entry.action)),
    cell("Entity", `${clean(entry.entity_type)} ${clean(entry.entity_id)}`),
    cell("Who", clean(entry.user_id || (entry.session_id ? "guest session" : "system"))),
    cell("Details", details(entry)),
  );
}

const list = pagedList({
  table,
  more: document.querySelector("[data-more]"),
  empty: document.querySelector("[data-empty]"),
  load: (cursor) => api.get(`/api/admin/audit-logs${query({ ...filters, cursor, limit: 50 })}`),
  draw: row,
});

function read(data) {
  const day = (name) => (data.get(name) ? `${data.get(name)}T00:00:00+00:00` : "");
  return {
    event_type: String(data.get("event_type") || "").trim(),
    entity_type: String(data.get("entity_type") || "").trim(),
    entity_id: String(data.get("entity_id") || "").trim(),
    user_id: String(data.get("user_id") || "").trim(),
    since: day("since"),
    until: day("until"),
  };
}

bindForm(form, async (data) => {
  const next = read(data);
  // Checked first so a wrong filter is said next to its field, not as an empty list.
  await api.get(`/api/admin/audit-logs${query({ ...next, limit: 1 })}`);
  filters = next;
  await list.reload();
  const count = table.tBodies[0].rows.length;
  announce(count ? `Showing ${count}${document.querySelector("[data-more]").hidden ? "" : "+"} entries.` : "No entries match.");
});
form.addEventListener("reset", () => {
  clearErrors(form);
  clearPageError();
  filters = {};
  list.reload();
});

document.getElementById("verify-button").addEventListener("click", async (event) => {
  const button = event.currentTarget;
  button.disabled = true;
  result.replaceChildren(el("p", {}, "Checking…"));
  try {
    const report = await api.get("/api/admin/audit-logs/verify");
    const summary = report.ok
      ? `Chain intact: ${report.checked} entries checked across ${report.chains.length} chain${report.chains.length === 1 ? "" : "s"}.`
      : `Chain broken: ${report.problems.length} problem${report.problems.length === 1 ? "" : "s"} in ${report.checked} entries.`;
    result.replaceChildren(
      el("p", {}, statusBadge(report.ok ? "intact" : "broken", report.ok ? "good" : "bad"), " ", summary),
      ...(report.problems.length ? [el("ul", {}, report.problems.map((p) => el("li", {}, clean(p))))] : []),
    );
  } catch (err) {
    result.replaceChildren(el("p", { className: "field-error" }, `The check could not run: ${clean(err.message)}`));
  } finally {
    button.disabled = false;
    result.focus();
  }
});

const initial = new URL(location.href).searchParams;
for (const name of ["event_type", "entity_type", "entity_id", "user_id"]) {
  if (initial.get(name)) { form.elements[name].value = initial.get(name); filters[name] = initial.get(name); }
}
list.reload().finally(ready);
