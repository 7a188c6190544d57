// One order for the owner: its lines, money, payment, refunds, shipments and history,
// and the three things to do with it: ship lines, refund (lines or an amount), cancel.
import {
  announce, api, bindForm, cell, clean, el, fieldError, handleAuth, money, parseMoney, ready,
  showPageError, statusBadge, when,
} from "./admin.js";

const root = document.getElementById("order");
const orderId = root.dataset.orderId;
const url = `/api/admin/orders/${encodeURIComponent(orderId)}`;
const statusLine = document.getElementById("action-status");
let order = null;

function facts(target, pairs) {
  target.replaceChildren(...pairs.filter(([, v]) => v !== null && v !== undefined && v !== "")
    .flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v instanceof Node ? v : clean(v))]));
}

function address(a) {
  if (!a) return null;
  return [a.name, a.company, a.street1, a.street2, [a.zip_code, a.city].filter(Boolean).join(" "), a.state, a.country]
    .filter(Boolean).map(clean).join(", ");
}

function drawLines() {
  const cur = order.currency;
  document.querySelector("#line-table tbody").replaceChildren(...order.lines.map((l) => el("tr", {},
    cell("Item", clean(l.name)),
    cell("SKU", clean(l.sku)),
    el("td", { className: "num", dataset: { label: "Qty" } }, String(l.quantity)),
    el("td", { className: "num", dataset: { label: "Unit price" } }, money(l.unit_price, cur)),
    el("td", { className: "num", dataset: { label: "Total" } }, money(l.total, cur)),
    el("td", { className: "num", dataset: { label: "Shipped" } }, String(l.shipped)),
    el("td", { className: "num", dataset: { label: "Refunded" } }, money(l.refunded, cur), l.restocked ? ` (${l.restocked} restocked)` : ""),
  )));
  const t = order.totals;
  facts(document.getElementById("order-totals"), [
    ["Subtotal", money(t.subtotal, cur)], ["Discount", t.discount ? money(-t.discount, cur) : null],
    ["Shipping", money(t.shipping, cur)], ["Tax", money(t.tax, cur)], ["Total", money(t.total, cur)],
    ["Refunded", t.refunded ? money(t.refunded, cur) : null],
  ]);
}

// Units still to ship, as the API counts them: units restocked before shipping never ship
// (restocking takes unshipped units first, so this is what is left).
function unshipped(l) {
  return Math.max(0, l.quantity - l.shipped - l.restocked);
}

// Per-line inputs: how many to ship (what is left to ship), how many to refund (+ restock).
function lineInputs(kind) {
  const box = document.querySelector(`[data-line-inputs="${kind}"]`);
  box.replaceChildren(...order.lines.map((l, i) => {
    const left = kind === "fulfil" ? unshipped(l) : l.quantity - l.refunded_quantity;
    const id = `${kind}-line-${i}`;
    const parts = [
      el("label", { for: id }, `${clean(l.name)} (${clean(l.sku)}) — up to ${Math.max(left, 0)}`),
      el("input", { id, name: `${kind}-${l.id}`, type: "number", min: "0", max: String(Math.max(left, 0)), value: kind === "fulfil" ? String(Math.max(left, 0)) : "0", inputmode: "numeric", dataset: { path: `lines.${i}.quantity`, lineId: l.id }, "aria-describedby": `${id}-error` }),
    ];
    if (kind === "refund") {
      parts.push(el("label", { className: "choice" }, el("input", { type: "checkbox", name: `restock-${l.id}`, checked: true, dataset: { path: `lines.${i}.restock` } }), "Put back in stock"));
    }
    parts.push(el("p", { id: `${id}-error`, className: "field-error", dataset: { errorFor: `lines.${i}.quantity` } }));
    return el("div", { className: "line-input" }, ...parts);
  }));
}

function drawPayment() {
  const p = order.payment || {};
  facts(document.getElementById("payment-facts"), [
    ["Status", statusBadge(order.payment_status, order.payment_status === "paid" ? "good" : "wait")],
    ["Method", [p.gateway, p.card_brand, p.card_last4 && `•••• ${p.card_last4}`].filter(Boolean).join(" ") || null],
    ["Amount", p.amount !== undefined ? money(p.amount, order.currency) : null],
  ]);
  document.getElementById("refund-list").replaceChildren(...(order.refunds.length ? order.refunds.map((r) => el("li", {},
    `${money(r.amount, r.currency)} on ${when(r.created_at)} — ${clean(r.status)}`,
    r.reason ? ` — “${clean(r.reason)}”` : "",
    r.restocked.length ? ` — restocked ${r.restocked.map((x) => `${x.quantity} × ${clean(x.sku)}`).join(", ")}` : "",
  )) : [el("li", {}, "None.")]));
  document.getElementById("shipment-list").replaceChildren(...(order.fulfillments.length ? order.fulfillments.map((f) => el("li", {},
    `${clean(f.carrier)} `, f.tracking_url && /^https?:\/\//.test(f.tracking_url) ? el("a", { href: f.tracking_url, rel: "noopener noreferrer" }, clean(f.tracking_number)) : clean(f.tracking_number),
    ` — ${f.lines.reduce((n, x) => n + x.quantity, 0)} item(s) on ${when(f.created_at)}`,
  )) : [el("li", {}, "Nothing shipped yet.")]));
  document.getElementById("history-list").replaceChildren(...order.history.map((h) => el("li", {},
    `${when(h.at)}: ${clean(h.summary || h.action)}`, h.actor ? el("span", { className: "hint" }, ` (${clean(h.actor)})`) : "")));
}

function draw(next) {
  order = next;
  document.title = `Order #${clean(order.number)} · admin`;
  document.getElementById("order-heading").textContent = `Order #${clean(order.number)}`;
  facts(document.getElementById("order-facts"), [
    ["Placed", when(order.created_at)], ["Customer", order.email],
    ["Status", statusBadge(order.status)],
    ["Fulfilment", statusBadge(order.fulfillment_status, order.fulfillment_status === "fulfilled" ? "good" : "wait")],
    ["Cancelled", order.cancelled_at ? when(order.cancelled_at) : null],
    ["Ship to", address(order.shipping_address)], ["Shipping method", order.shipping_method && (order.shipping_method.name || order.shipping_method.id)],
  ]);
  drawLines();
  const open = order.fulfillment_status !== "cancelled";
  document.getElementById("fulfil-section").hidden = !open || order.lines.every((l) => unshipped(l) === 0);
  document.getElementById("cancel-section").hidden = !open || order.lines.some((l) => l.shipped > 0);
  document.getElementById("refund-section").hidden = order.totals.refunded >= order.totals.total;
  lineInputs("fulfil");
  lineInputs("refund");
  drawPayment();
}

// An earlier action's outcome is cleared as soon as another starts: until the answer
// comes, the status line must not read as this action's outcome.
document.querySelectorAll("#order form").forEach((form) => form.addEventListener("submit", () => {
  statusLine.textContent = "";
}));

// A refund in words: the money, and exactly what went back in stock (or that nothing did).
function refundMessage(refund) {
  const back = refund.restocked.map((x) => `${x.quantity} × ${clean(x.sku || x.line_id)}`).join(", ");
  const stock = back ? `put back in stock: ${back}.` : "nothing was put back in stock.";
  return `Refunded ${money(refund.amount, refund.currency)}; ${stock}`;
}

// After an action: the new state drawn, the outcome said, focus on the outcome.
function done(next, message) {
  draw(next);
  statusLine.textContent = message;
  statusLine.focus();
  announce(message);
}

function wanted(form, kind) {
  return order.lines.map((l) => {
    const input = form.elements[`${kind}-${l.id}`];
    const raw = input.value.trim();
    const quantity = /^\d+$/.test(raw) ? Number.parseInt(raw, 10) : raw === "" ? 0 : NaN;
    if (Number.isNaN(quantity)) fieldError(form, input, "Enter a whole number.");
    return { line: l, quantity, input };
  });
}

// The API names a line by its place in the list sent ("lines.0.quantity"): the inputs of
// the lines sent take those paths, so its errors land next to the right input.
function sendPaths(form, picked) {
  let k = 0;
  for (const p of picked) {
    const path = p.quantity > 0 ? `lines.${k++}` : `unsent.${p.line.id}`;
    p.input.dataset.path = `${path}.quantity`;
    const slot = p.input.parentElement.querySelector("[data-error-for]");
    slot.dataset.errorFor = `${path}.quantity`;
    const restock = form.elements[`restock-${p.line.id}`];
    if (restock) restock.dataset.path = `${path}.restock`;
  }
}

bindForm(document.getElementById("fulfil-form"), async (data) => {
  const form = document.getElementById("fulfil-form");
  const picked = wanted(form, "fulfil");
  if (form.querySelector("[aria-invalid=true]")) return form.querySelector("[aria-invalid=true]").focus();
  const lines = picked.filter((p) => p.quantity > 0).map((p) => ({ line_id: p.line.id, quantity: p.quantity }));
  if (!lines.length) { fieldError(form, picked[0].input, "Choose at least one item to ship."); return picked[0].input.focus(); }
  sendPaths(form, picked);
  const answer = await api.post(`${url}/fulfillments`, { carrier: String(data.get("carrier")).trim(), tracking_number: String(data.get("tracking_number")).trim(), lines });
  form.reset();
  const count = lines.reduce((n, l) => n + l.quantity, 0);
  done(answer.order, `Marked ${count} item${count === 1 ? "" : "s"} as shipped with ${clean(answer.fulfillment.carrier)}; the customer has been e-mailed.`);
});

bindForm(document.getElementById("refund-form"), async (data) => {
  const form = document.getElementById("refund-form");
  const picked = wanted(form, "refund");
  const amountText = String(data.get("amount") || "").trim();
  const amount = amountText ? parseMoney(amountText, order.currency) : null;
  if (amountText && amount === null) fieldError(form, form.elements.amount, "Enter an amount like 12.50.");
  if (form.querySelector("[aria-invalid=true]")) return form.querySelector("[aria-invalid=true]").focus();
  const lines = picked.filter((p) => p.quantity > 0)
    .map((p) => ({ line_id: p.line.id, quantity: p.quantity, restock: form.elements[`restock-${p.line.id}`].checked }));
  if (!lines.length && amount === null) {
    fieldError(form, form.elements.amount, "Choose items to refund, or enter an amount.");
    return form.elements.amount.focus();
  }
  sendPaths(form, picked);
  const body = { reason: String(data.get("reason") || "").trim() || undefined };
  if (lines.length) body.lines = lines;
  if (amount !== null) body.amount = amount;
  const answer = await api.post(`${url}/refunds`, body);
  form.reset();
  done(answer.order, refundMessage(answer.refund));
});

bindForm(document.getElementById("cancel-form"), async (data) => {
  const answer = await api.post(`${url}/cancel`, { reason: String(data.get("reason") || "").trim() || undefined });
  const refunded = answer.refund ? ` and refunded ${money(answer.refund.amount, answer.refund.currency)}` : "";
  done(answer.order, `Order cancelled${refunded}; every item is back in stock.`);
});

async function load() {
  try {
    draw(await api.get(url));
  } catch (err) {
    if (handleAuth(err)) return;
    document.querySelectorAll("#order section").forEach((s) => { s.hidden = true; });
    showPageError(err.status === 404 ? "There is no order with this id." : clean(err.message));
  } finally {
    root.removeAttribute("aria-busy");
  }
}
load().finally(ready);
