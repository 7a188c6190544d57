// Products: search and the on-sale filter, paging, and a short form to add one (name,
// SKU, price); everything else is on the product's own page.
import {
  announce, api, bindForm, cell, clean, el, fieldError, money, pagedList, parseMoney, query, ready,
  shopCurrency, statusBadge, withBase,
} from "./admin.js";

const form = document.getElementById("product-form");
const search = document.getElementById("product-search");
const table = document.getElementById("product-table");
let filters = {};

function stockText(available) {
  return available === null || available === undefined ? "not tracked" : String(available);
}

// The first image as a small thumbnail (its alt text names the product).
function picture(p) {
  const src = (p.images || []).find((s) => /^https?:\/\//.test(s));
  if (!src) return el("span", { className: "hint" }, "none");
  return el("img", { className: "thumb", src, alt: clean(p.name), width: "48", height: "48", loading: "lazy", decoding: "async" });
}

function row(p) {
  return el("tr", { dataset: { id: p.id } },
    cell("Image", picture(p)),
    cell("Name", el("a", { href: withBase(`/admin/products/${encodeURIComponent(p.id)}`) }, clean(p.name))),
    cell("SKU", clean(p.sku)),
    el("td", { className: "num", dataset: { label: "Price" } }, money(p.price, p.currency)),
    el("td", { className: "num", dataset: { label: "Available" } }, stockText(p.available)),
    cell("Status", p.active ? statusBadge("on sale", "good") : statusBadge("hidden", "wait")),
  );
}

const list = pagedList({
  table,
  more: document.querySelector("[data-more]"),
  empty: document.querySelector("[data-empty]"),
  load: (cursor) => api.get(`/api/admin/products${query({ ...filters, cursor, limit: 25 })}`),
  draw: row,
});

bindForm(search, async (data) => {
  const next = { q: String(data.get("q") || "").trim(), active: data.get("active") };
  await api.get(`/api/admin/products${query({ ...next, limit: 1 })}`);
  filters = next;
  await list.reload();
  const count = table.tBodies[0].rows.length;
  announce(count ? `${count}${document.querySelector("[data-more]").hidden ? "" : "+"} products shown.` : "No products match.");
});

bindForm(form, async (data) => {
  const price = parseMoney(data.get("price"));
  if (price === null) {
    fieldError(form, form.elements.price, `Enter a price like 19.99 (${shopCurrency}).`);
    return form.elements.price.focus();
  }
  const created = await api.post("/api/admin/products", { name: String(data.get("name")).trim(), sku: String(data.get("sku")).trim(), price });
  form.reset();
  const fresh = row(created);
  table.tBodies[0].prepend(fresh);
  document.querySelector("[data-empty]").hidden = true;
  fresh.querySelector("a").focus();
  announce(`${clean(created.name)} added. Open it to add a description, images and stock.`);
});

list.reload().finally(ready);
