// Orders: newest first, filtered by status and dates, searched, paged by cursor.
import { api, announce, bindForm, cell, clean, clearErrors, el, money, pagedList, query, ready, statusBadge, when, withBase } from "./admin.js";

const form = document.getElementById("order-filters");
const table = document.getElementById("order-table");
const FIELDS = ["q", "fulfillment_status", "payment_status", "created_from", "created_to"];
const TONES = { paid: "good", fulfilled: "good", refunded: "bad", cancelled: "bad", unfulfilled: "wait", held_for_review: "wait" };
let filters = {};

function read() {
  const data = new FormData(form);
  const out = {};
  for (const name of FIELDS) {
    const value = String(data.get(name) || "").trim();
    if (!value) continue;
    out[name] = name.startsWith("created_") ? `${value}T00:00:00+00:00` : value;
  }
  return out;
}

function row(o) {
  return el("tr", { dataset: { id: o.id } },
    cell("Order", el("a", { href: withBase(`/admin/orders/${encodeURIComponent(o.id)}`) }, `#${clean(o.number)}`)),
    cell("Placed", when(o.created_at)),
    cell("Customer", clean(o.email)),
    cell("Payment", statusBadge(o.payment_status, TONES[o.payment_status])),
    cell("Fulfilment", statusBadge(o.fulfillment_status, TONES[o.fulfillment_status])),
    el("td", { className: "num", dataset: { label: "Items" } }, String(o.item_count)),
    el("td", { className: "num", dataset: { label: "Total" } }, money(o.total, o.currency),
      o.refunded ? el("span", { className: "hint" }, ` (${money(o.refunded, o.currency)} refunded)`) : null),
  );
}

const list = pagedList({
  table,
  more: document.querySelector("[data-more]"),
  empty: document.querySelector("[data-empty]"),
  load: (cursor) => api.get(`/api/admin/orders${query({ ...filters, cursor, limit: 25 })}`),
  draw: row,
});

function remember() {
  const shown = Object.fromEntries(FIELDS.map((n) => [n, form.elements[n].value]).filter(([, v]) => v));
  history.replaceState(null, "", location.pathname + query(shown));
}

bindForm(form, async () => {
  const next = read();
  // Asked once first so a filter the API refuses is said next to its field.
  await api.get(`/api/admin/orders${query({ ...next, limit: 1 })}`);
  filters = next;
  remember();
  await list.reload();
  const count = table.tBodies[0].rows.length;
  announce(count ? `${count}${document.querySelector("[data-more]").hidden ? "" : "+"} orders shown.` : "No orders match.");
});
form.addEventListener("reset", () => {
  clearErrors(form);
  filters = {};
  history.replaceState(null, "", location.pathname);
  setTimeout(() => list.reload(), 0);
});

// Filters in the address (the dashboard links to ?fulfillment_status=unfulfilled).
const initial = new URL(location.href).searchParams;
for (const name of FIELDS) if (initial.get(name)) form.elements[name].value = initial.get(name);
filters = read();
list.reload().finally(ready);
