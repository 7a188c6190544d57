// One order's page: what was bought, where it goes, what was paid.
import { api, session } from "./api.js";
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

// Each parcel: what is in it, its carrier and tracking number (a link for known carriers).
function shipments(list) {
  const ul = document.createElement("ul");
  ul.className = "fulfillments";
  ul.setAttribute("aria-label", "Shipments");
  for (const parcel of list) {
    const li = document.createElement("li");
    li.append(`${parcel.text}. Tracking: `);
    if (parcel.tracking_url && parcel.tracking_url.startsWith("https://")) {
      const a = document.createElement("a");
      a.href = parcel.tracking_url;
      a.rel = "noopener noreferrer";
      a.textContent = parcel.tracking_number;
      li.append(a);
    } else {
      li.append(parcel.tracking_number);
    }
    ul.append(li);
  }
  return ul;
}

// Amounts come preformatted in `order.display` (Babel on the server, for this browser's
// Accept-Language): the page and the order's emails read the same, to the character.
function render(order) {
  const shown = order.display;
  const heading = document.createElement("h2");
  heading.textContent = `Order ${order.number || order.id}`;
  const status = document.createElement("p");
  status.className = "order-status";
  status.textContent = `Status: ${shown.status}`;
  const list = document.createElement("ul");
  list.className = "lines";
  order.lines.forEach((line, i) => {
    const li = document.createElement("li");
    li.className = "line";
    // The line's own amount (price × quantity): the lines add up to the subtotal below.
    const each = line.quantity > 1 ? ` (${shown.lines[i].unit_price} each)` : "";
    li.textContent = `${line.quantity} × ${line.name || line.sku}${each} — ${shown.lines[i].amount}`;
    list.append(li);
  });
  const totals = document.createElement("dl");
  totals.className = "totals";
  totals.append(row("Subtotal", shown.subtotal));
  if (shown.discount) totals.append(row("Discount", shown.discount));
  totals.append(row("Shipping", shown.shipping));
  if (order.totals.tax) totals.append(row("Tax", shown.tax));
  const grand = row("Total", shown.total);
  grand.className = "grand";
  totals.append(grand);
  if (shown.refunded) totals.append(row("Refunded", shown.refunded));
  const parts = [heading, status, list, totals];
  if (shown.fulfillment) {
    const delivery = document.createElement("p");
    delivery.className = "fulfillment-status";
    delivery.textContent = `Delivery: ${shown.fulfillment}`;
    parts.push(delivery);
  }
  if (shown.fulfillments && shown.fulfillments.length) parts.push(shipments(shown.fulfillments));
  if (shown.refunds.length) {
    const refunds = document.createElement("ul");
    refunds.className = "refunds";
    refunds.setAttribute("aria-label", "Refunds");
    for (const refund of shown.refunds) {
      const li = document.createElement("li");
      // The refund in words: amount, reason and the items taken back.
      li.textContent = refund.text || `${refund.status}: ${refund.amount}`;
      refunds.append(li);
    }
    parts.push(refunds);
  }
  const details = document.createElement("dl");
  details.className = "order-details";
  const address = order.shipping_address;
  if (address) details.append(row("Ship to", [`${address.first_name} ${address.last_name}`, address.street1, address.street2, [address.city, address.state, address.zip_code].filter(Boolean).join(" "), address.country].filter(Boolean).join(", ")));
  if (order.shipping_method && order.shipping_method.name) details.append(row("Delivery", order.shipping_method.name));
  if (order.payment && order.payment.card_last4) details.append(row("Paid with", `${(order.payment.card_brand || "card").toUpperCase()} ending ${order.payment.card_last4}`));
  if (order.email) details.append(row("Receipt to", order.email));
  parts.push(details);
  root.replaceChildren(...parts);
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
