// Coupons: the list (paged, active filter), a form to create one, "Deactivate" per row.
import {
  announce, api, bindForm, cell, clean, el, fieldError, moneyInput, pagedList, parseMoney,
  query, ready, shopCurrency, showErrors, statusBadge, when, money,
} from "./admin.js";

const form = document.getElementById("coupon-form");
const table = document.getElementById("coupon-table");
const activeFilter = document.getElementById("coupon-active");
const valueHint = document.getElementById("coupon-value-hint");

const HINTS = { percentage: "(percent, e.g. 10)", fixed_amount: `(amount in ${shopCurrency}, e.g. 5.00)`, free_shipping: "(0)" };
form.elements.type.addEventListener("change", () => {
  valueHint.textContent = HINTS[form.elements.type.value];
  if (form.elements.type.value === "free_shipping") form.elements.value.value = "0";
});

function discount(c) {
  if (c.type === "percentage") return `${moneyInput(c.value, "USD").replace(/\.?0+$/, "")} % off`;
  if (c.type === "fixed_amount") return `${money(c.value, c.currency || shopCurrency)} off`;
  if (c.type === "free_shipping") return "Free shipping";
  return clean(c.type.replaceAll("_", " "));
}

function row(c) {
  const actions = el("div", { className: "row-actions" });
  if (c.is_active) {
    actions.append(el("button", {
      type: "button", className: "button secondary", "aria-label": `Deactivate ${clean(c.code)}`,
      on: { click: (event) => deactivate(c, event.currentTarget) },
    }, "Deactivate"));
  }
  return el("tr", { dataset: { id: c.id } },
    cell("Code", el("strong", {}, clean(c.code))),
    cell("Discount", discount(c)),
    cell("Valid", `${when(c.start_date)} – ${when(c.end_date)}`),
    cell("Used", `${c.usage_count}${c.usage_limit ? ` of ${c.usage_limit}` : ""}`),
    cell("Status", c.is_active ? statusBadge("active", "good") : statusBadge("inactive", "bad")),
    el("td", c.is_active ? { dataset: { label: "Actions" } } : {}, c.is_active ? actions : null),
  );
}

const list = pagedList({
  table,
  more: document.querySelector("[data-more]"),
  empty: document.querySelector("[data-empty]"),
  load: (cursor) => api.get(`/api/admin/coupons${query({ cursor, limit: 25, active: activeFilter.value })}`),
  draw: row,
});
activeFilter.addEventListener("change", () => list.reload());

async function deactivate(coupon, button) {
  button.disabled = true;
  try {
    const updated = await api.post(`/api/admin/coupons/${encodeURIComponent(coupon.id)}/deactivate`);
    const fresh = row(updated);
    table.querySelector(`tr[data-id="${CSS.escape(coupon.id)}"]`).replaceWith(fresh);
    // The button is gone with the old row: focus its row's status instead.
    fresh.tabIndex = -1;
    fresh.focus();
    announce(`Coupon ${clean(updated.code)} deactivated.`);
  } catch (err) {
    button.disabled = false;
    showErrors(form, err);
  }
}

// The API takes basis points for a percentage and minor units for an amount.
function amountFor(type, text, input) {
  const raw = String(text).trim();
  if (type === "percentage") {
    const bp = parseMoney(raw, "USD");
    if (bp === null) { fieldError(form, input, "Enter the percentage as a number, e.g. 10 or 12.5."); return null; }
    return bp;
  }
  const minor = parseMoney(raw || "0");
  if (minor === null) { fieldError(form, input, `Enter an amount like 5.00 (${shopCurrency}).`); return null; }
  return minor;
}

function whole(text) {
  const raw = String(text || "").trim();
  return raw === "" ? null : /^\d+$/.test(raw) ? Number.parseInt(raw, 10) : raw;
}

bindForm(form, async (data) => {
  const type = data.get("type");
  const value = amountFor(type, data.get("value"), form.elements.value);
  const minimumText = String(data.get("minimum_order_amount") || "").trim();
  const minimum = minimumText ? parseMoney(minimumText) : null;
  if (minimumText && minimum === null) fieldError(form, form.elements.minimum_order_amount, `Enter an amount like 25.00 (${shopCurrency}).`);
  const bad = form.querySelector("[aria-invalid=true]");
  if (bad) { bad.focus(); return; }
  const day = (name) => (data.get(name) ? `${data.get(name)}T00:00:00Z` : null);
  const body = {
    code: String(data.get("code") || "").trim(),
    type,
    value,
    start_date: day("start_date"),
    end_date: day("end_date"),
    minimum_order_amount: minimum,
    usage_limit: whole(data.get("usage_limit")),
  };
  if (type === "fixed_amount" || minimum !== null) body.currency = shopCurrency;
  const created = await api.post("/api/admin/coupons", body);
  form.reset();
  valueHint.textContent = HINTS.percentage;
  const fresh = row(created);
  table.tBodies[0].prepend(fresh);
  document.querySelector("[data-empty]").hidden = true;
  fresh.tabIndex = -1;
  fresh.focus();
  announce(`Coupon ${clean(created.code)} created.`);
});

list.reload().finally(ready);
