// The account page: sign-in details and e-mail confirmation, order history (newest
// first, each linking to its order page, with "Buy again"), and saved addresses.
import { api, money, session, withBase } from "./api.js";
import { buyAgain } from "./buy_again.js";
import { announce, clearFieldErrors, clearPageError, reportError, showPageError } from "./feedback.js";

// Order statuses in the shopper's words.
const STATUS_WORDS = {
  pending: "Awaiting payment",
  paid: "Paid",
  held_for_review: "Being checked",
  partially_refunded: "Partly refunded",
  refunded: "Refunded",
};
const dateFormat = new Intl.DateTimeFormat(undefined, { year: "numeric", month: "short", day: "numeric" });

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (className) node.className = className;
  return node;
}

function renderProfile(me) {
  document.querySelector("[data-account-email]").textContent = me.email;
  document.querySelector("[data-verified]").hidden = !me.email_verified;
  document.querySelector("[data-unverified]").hidden = me.email_verified;
}

function orderItem(order) {
  const li = el("li", undefined, "order-row");
  const link = el("a", `Order ${order.number}`);
  link.href = withBase(`/orders/${encodeURIComponent(order.id)}`);
  const heading = el("h3");
  heading.append(link);
  const facts = el("p", undefined, "order-facts");
  const date = el("time", dateFormat.format(new Date(order.created_at)));
  date.dateTime = order.created_at;
  facts.append(date, ` · ${STATUS_WORDS[order.status] || "Being processed"} · `, el("strong", money(order.totals.total, order.currency)));
  const button = el("button", "Buy again", "button secondary");
  button.type = "button";
  button.append(el("span", `: order ${order.number}`, "visually-hidden"));
  button.addEventListener("click", async () => {
    const status = document.getElementById("buy-again-status");
    button.disabled = true;
    try {
      await buyAgain(order.id, status);
      announce(status.textContent);
    } catch (err) {
      reportError(err);
    } finally {
      button.disabled = false;
    }
  });
  li.append(heading, facts, button);
  return li;
}

function renderOrders(page) {
  const list = document.getElementById("order-history");
  list.replaceChildren(...page.items.map(orderItem));
  document.querySelector("[data-orders-empty]").hidden = page.items.length > 0;
}

function addressLines(a) {
  return [`${a.first_name} ${a.last_name}`, a.street1, a.street2, [a.city, a.state, a.zip_code].filter(Boolean).join(" "), a.country].filter(Boolean);
}

function addressItem(saved) {
  const li = el("li", undefined, "saved-address");
  const text = el("p", addressLines(saved.address).join(", "));
  const remove = el("button", "Delete", "button link");
  remove.type = "button";
  remove.append(el("span", `: ${addressLines(saved.address).slice(0, 2).join(", ")}`, "visually-hidden"));
  remove.addEventListener("click", async () => {
    try {
      await api.delete(`/api/account/addresses/${encodeURIComponent(saved.id)}`);
      document.getElementById("address-status").textContent = "Address deleted.";
      await loadAddresses();
      document.getElementById("addresses-heading").focus();
    } catch (err) {
      reportError(err);
    }
  });
  li.append(text, remove);
  return li;
}

async function loadAddresses() {
  const page = await api.get("/api/account/addresses");
  document.getElementById("saved-addresses").replaceChildren(...page.items.map(addressItem));
  document.querySelector("[data-addresses-empty]").hidden = page.items.length > 0;
}

async function saveAddress(event) {
  event.preventDefault();
  const form = event.currentTarget;
  clearPageError();
  clearFieldErrors(form);
  const data = Object.fromEntries(new FormData(form).entries());
  if (!data.street2) delete data.street2;
  try {
    await api.post("/api/account/addresses", data);
    form.reset();
    document.getElementById("address-status").textContent = "Address saved.";
    await loadAddresses();
  } catch (err) {
    reportError(err, form);
  }
}

async function resendVerification() {
  try {
    const answer = await api.post("/api/auth/verify-email/resend");
    document.getElementById("profile-status").textContent = answer.message;
  } catch (err) {
    reportError(err);
  }
}

async function start() {
  try {
    const s = await session();
    if (s.kind !== "registered") {
      location.replace(withBase(`/account/login?next=${withBase("/account")}`));
      return;
    }
    const [me, orders] = await Promise.all([api.get("/api/auth/me"), api.get("/api/orders?limit=50"), loadAddresses()]);
    renderProfile(me);
    renderOrders(orders);
    document.getElementById("account-loading").hidden = true;
    document.getElementById("account").hidden = false;
    if (new URL(location.href).searchParams.get("welcome")) {
      document.getElementById("profile-status").textContent = "Welcome! We have sent you a link to confirm your e-mail address.";
    }
  } catch (err) {
    document.getElementById("account-loading").hidden = true;
    showPageError(err.status === 401 ? "Please sign in again." : err.message);
  }
  document.documentElement.dataset.ready = "true";
}

document.getElementById("address-form").addEventListener("submit", saveAddress);
document.getElementById("resend-verification").addEventListener("click", resendVerification);
document.getElementById("addresses-heading").tabIndex = -1;
start();
