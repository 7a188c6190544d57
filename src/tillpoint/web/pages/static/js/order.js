// One order's page: what was bought, where it goes, what was paid.
import { api, money, session } from "./api.js";
import { showPageError } from "./feedback.js";

const root = document.getElementById("order");

function row(term, value) {
  const div = document.createElement("div");
  const dt = document.createElement("dt");
  const dd = document.createElement("dd");
  dt.textContent = term;
  dd.textContent = value;
  div.append(dt, dd);
  return div;
}

function render(order) {
  const currency = order.currency;
  const heading = document.createElement("h2");
  heading.textContent = `Order ${order.number || order.id}`;
  const status = document.createElement("p");
  status.textContent = `Status: ${order.status}`;
  const list = document.createElement("ul");
  list.className = "lines";
  for (const line of order.lines || order.items || []) {
    const li = document.createElement("li");
    li.className = "line";
    li.textContent = `${line.quantity} × ${line.name || line.sku} — ${money(line.line_total ?? line.total ?? 0, currency)}`;
    list.append(li);
  }
  const totals = document.createElement("dl");
  totals.className = "totals";
  const t = order.totals || order;
  const parts = [["Subtotal", t.subtotal], ["Discount", t.discount], ["Shipping", t.shipping], ["Tax", t.tax]];
  for (const [term, amount] of parts) if (Number.isInteger(amount) && (amount || term === "Subtotal")) totals.append(row(term, money(amount, currency)));
  const grand = row("Total", money(t.total, currency));
  grand.className = "grand";
  totals.append(grand);
  const details = document.createElement("dl");
  details.className = "order-details";
  const address = order.shipping_address;
  if (address) details.append(row("Ship to", [`${address.first_name} ${address.last_name}`, address.street1, address.street2, [address.city, address.state, address.zip_code].filter(Boolean).join(" "), address.country].filter(Boolean).join(", ")));
  if (order.shipping_method && order.shipping_method.name) details.append(row("Delivery", order.shipping_method.name));
  if (order.payment && order.payment.card_last4) details.append(row("Paid with", `${(order.payment.card_brand || "card").toUpperCase()} ending ${order.payment.card_last4}`));
  if (order.email) details.append(row("Receipt to", order.email));
  root.replaceChildren(heading, status, list, totals, details);
}

async function start() {
  try {
    await session();
    // A guest's link carries the order's access token.
    const token = new URL(location.href).searchParams.get("token");
    const query = token ? `?token=${encodeURIComponent(token)}` : "";
    render(await api.get(`/api/orders/${encodeURIComponent(root.dataset.orderId)}${query}`));
  } catch (err) {
    root.replaceChildren();
    showPageError(err.status === 404 ? "We could not find that order." : err.message);
  }
  document.documentElement.dataset.ready = "true";
}

start();
