// The checkout page: draws the step for the server's checkout state and sends the
// customer's events. Nothing about progress is kept in the browser, so reload and
// back/forward always come back to where the server says the customer is.
import { addressFieldset, describeAddress, readAddress } from "./address.js";
import { api, money, newIdempotencyKey, resetSession, session } from "./api.js";
import { showCartCount } from "./cart_count.js";
import { announce, clearFieldErrors, clearPageError, reportError, showPageError } from "./feedback.js";
import { payment } from "./payment.js";
import { drawBadges, levelOf, onStock, setLevel, watchStock } from "./stock.js";

const root = document.getElementById("step");
const STEP_OF = {
  cart_review: "identify", user_identification: "identify", auth_redirect: "identify",
  guest_info: "details", shipping_address: "address", billing_address: "address",
  shipping_method: "shipping", payment_method: "payment", order_review: "review",
  payment_processing: "review", payment_requires_action: "review", payment_failed: "payment",
  payment_success: "done", payment_refunded: "done", order_confirmation: "done",
};
const TITLES = {
  cart_review: "Review your cart", user_identification: "Sign in or continue as guest",
  auth_redirect: "Sign in", guest_info: "Your details", shipping_address: "Shipping address",
  billing_address: "Billing address", shipping_method: "Delivery", payment_method: "Payment",
  order_review: "Review and pay", payment_processing: "Processing payment",
  payment_requires_action: "Confirm payment", payment_success: "Payment received",
  payment_failed: "Payment failed", payment_refunded: "Payment refunded", order_confirmation: "Order confirmed",
  expired: "Checkout expired",
};

let checkout = null;
let cart = null;
let me = null;
let busy = false;
let pollTimer = null;
let drawnState = null;
let orderId = null;

// --- talking to the server -------------------------------------------------------

async function refresh() {
  show(await api.get(`/api/checkout/${checkout.id}`));
}

async function sendEvent(type, fields = {}, form = null, options = {}) {
  if (busy) return null;
  busy = true;
  clearPageError();
  if (form) clearFieldErrors(form);
  setBusy(true);
  try {
    const view = await api.post(`/api/checkout/${checkout.id}/events`, { type, ...fields }, {
      ifMatch: checkout.version,
      idempotencyKey: options.idempotencyKey,
    });
    busy = false;
    show(view);
    return view;
  } catch (err) {
    busy = false;
    setBusy(false);
    await handleRefusal(err, form);
    return null;
  }
}

async function handleRefusal(err, form) {
  if (err.status === 412 && err.details && err.details.current) {
    show(err.details.current);
    showPageError("This checkout changed in another window. Here is where it stands now.");
  } else if (err.code === "event_not_allowed" || err.code === "checkout_expired") {
    await refresh();
    if (err.code === "event_not_allowed") showPageError("That step is no longer available. Here is where your checkout stands now.");
  } else if (err.code === "coupon_exhausted") {
    // The coupon ran out before this order was placed: it left the cart, nothing was charged.
    await refresh();
    const total = err.details && err.details.totals ? money(err.details.totals.total, err.details.totals.currency) : null;
    showPageError(`${err.message}${total ? ` New total: ${total}.` : ""}`);
  } else if (err.code === "totals_changed") {
    await refresh();
    showPageError(`Your order total changed to ${money(err.details.totals.total, err.details.totals.currency)}. Please check it and place the order again.`);
  } else {
    reportError(err, form);
  }
}

function setBusy(on) {
  root.setAttribute("aria-busy", on ? "true" : "false");
  root.querySelectorAll("button").forEach((b) => { b.disabled = on; });
}

// --- drawing -----------------------------------------------------------------------

function show(view) {
  const moved = view.state !== drawnState;
  checkout = view;
  const url = new URL(location.href);
  if (url.searchParams.get("id") !== view.id) {
    url.searchParams.set("id", view.id);
    history.replaceState(null, "", url);
  }
  renderSteps();
  renderSummary();
  if (moved) {
    drawStep();
    if (drawnState !== null) {
      const heading = document.getElementById("step-heading");
      if (heading) heading.focus();
      announce(TITLES[view.state] || view.state);
    }
    drawnState = view.state;
  } else {
    setBusy(false);
  }
  schedulePoll();
  document.title = `${TITLES[view.state] || "Checkout"} · Checkout · tillpoint`;
}

function renderSteps() {
  const current = STEP_OF[checkout.state];
  document.querySelectorAll("#steps [data-step]").forEach((li) => {
    if (li.dataset.step === current) li.setAttribute("aria-current", "step");
    else li.removeAttribute("aria-current");
  });
}

function drawStep() {
  const template = document.getElementById(`tpl-${checkout.state}`);
  root.dataset.state = checkout.state;
  root.setAttribute("aria-busy", "false");
  if (!template) {
    root.replaceChildren();
    showPageError(`Unknown checkout state ${checkout.state}.`);
    return;
  }
  root.replaceChildren(template.content.cloneNode(true));
  root.querySelectorAll("[data-event]").forEach((button) => {
    const allowed = checkout.allowed_events.includes(button.dataset.event);
    button.hidden = button.hidden || !allowed;
    button.addEventListener("click", () => onEventButton(button));
  });
  const form = root.querySelector("form[data-submit]");
  if (form) form.addEventListener("submit", (event) => { event.preventDefault(); onSubmit(form, event.submitter); });
  const fill = STEPS[checkout.state];
  if (fill) fill();
}

function onEventButton(button) {
  const type = button.dataset.event;
  if (type === "CONFIRM_ORDER") return placeOrder();
  return sendEvent(type);
}

// --- the steps -----------------------------------------------------------------------

const ctx = () => checkout.context;
const names = () => {
  const c = ctx();
  const from = c.guest_info || c.shipping_address || {};
  return { first_name: from.first_name || "", last_name: from.last_name || "" };
};

const STEPS = {
  user_identification() {
    const registered = me && me.kind === "registered";
    root.querySelectorAll("[data-when-registered]").forEach((el) => { el.hidden = el.hidden || !registered; });
    root.querySelectorAll("[data-when-guest]").forEach((el) => { el.hidden = el.hidden || registered; });
    const email = root.querySelector("[data-user-email]");
    if (email) email.textContent = (me && me.email) || "your account";
  },
  auth_redirect() {
    const form = root.querySelector("#auth-form");
    form.addEventListener("submit", (event) => { event.preventDefault(); signIn(form, event.submitter); });
  },
  guest_info() {
    const form = root.querySelector("form");
    const info = ctx().guest_info || {};
    for (const key of ["email", "first_name", "last_name", "phone"]) if (info[key]) form.elements[key].value = info[key];
    form.elements.marketing_consent.checked = Boolean(info.marketing_consent);
  },
  async shipping_address() {
    const values = ctx().shipping_address || names();
    await whileLoading(root, addressFieldset(root.querySelector("[data-address-slot]"), { prefix: "shipping", legend: "Where should we send it?", values }));
    const same = root.querySelector("#same-billing");
    if (ctx().billing_address && ctx().shipping_address) same.checked = sameAddress(ctx().billing_address, ctx().shipping_address);
  },
  async billing_address() {
    const values = ctx().billing_address || ctx().shipping_address || names();
    await whileLoading(root, addressFieldset(root.querySelector("[data-address-slot]"), { prefix: "billing", legend: "Billing address", values }));
  },
  async shipping_method() {
    const slot = root.querySelector("[data-shipping-options]");
    // Nothing to submit until the options are here.
    const submit = root.querySelector("button[type=submit]");
    submit.disabled = true;
    let options;
    try {
      options = await api.get(`/api/checkout/${checkout.id}/shipping-options`);
    } catch (err) {
      slot.replaceChildren();
      reportError(err);
      return;
    }
    submit.disabled = options.items.length === 0;
    const chosen = ctx().shipping_method && ctx().shipping_method.id;
    slot.replaceChildren(...options.items.map((option, index) => shippingChoice(option, chosen ? option.id === chosen : index === 0)));
    if (!options.items.length) slot.textContent = "We cannot deliver to this address. Please change it.";
  },
  payment_method() {
    payment.mount(root, checkout, { placeOrder: placeWalletOrder, settle }).catch((err) => reportError(err));
  },
  order_review() {
    const c = ctx();
    const contact = c.guest_info ? `${c.guest_info.first_name} ${c.guest_info.last_name}, ${c.guest_info.email}` : (me && me.email) || "Your account";
    text("contact", contact);
    text("shipping_address", describeAddress(c.shipping_address));
    text("billing_address", sameAddress(c.billing_address, c.shipping_address) ? "Same as shipping address" : describeAddress(c.billing_address));
    const method = c.shipping_method || {};
    text("shipping_method", method.name ? `${method.name} — ${deliveryWindow(method)}` : "");
    text("payment_method", payment.describe(c.payment_method));
    const totals = root.querySelector('[data-review="totals"]');
    if (c.totals) {
      fillTotals(totals, c.totals, true);
      text("total", money(c.totals.total, c.totals.currency));
    }
  },
  payment_requires_action() {
    payment.challenge(root, checkout, { done: (paying) => settle(paying) }).catch((err) => settleFailed(err));
  },
  payment_success() {
    // Paid: the server's finalize path makes the order (or, if it cannot, refunds and
    // says why); PROCEED_TO_CONFIRMATION alone would leave a payment it cannot use.
    settle(api.post("/api/payment/confirm", { checkout_id: checkout.id }));
  },
  payment_refunded() {
    const refund = (ctx().payment && ctx().payment.refund) || {};
    root.querySelector("[data-refund-reason]").textContent = refund.message || "We could not place your order, so your payment has been refunded in full.";
    const amount = root.querySelector("[data-refund-amount]");
    if (Number.isInteger(refund.amount) && refund.currency) amount.textContent = `Refunded: ${money(refund.amount, refund.currency)}.`;
    else amount.hidden = true;
    // The summary's stock badges are from before the payment: show what sold out.
    api.get("/api/cart").then((fresh) => { cart = fresh; renderSummary(); }).catch(() => {});
  },
  payment_failed() {
    const c = ctx();
    const reason = (c.payment && (c.payment.decline_message || c.payment.failure_message || (c.payment.error && c.payment.error.message)))
      || (c.errors.length && c.errors[c.errors.length - 1].message)
      || "Your card was not charged.";
    root.querySelector("[data-failure-reason]").textContent = reason;
  },
  async order_confirmation() {
    showCartCount(0);
    const c = ctx();
    const email = (c.guest_info && c.guest_info.email) || (me && me.email);
    const line = root.querySelector("[data-confirmation]");
    const link = root.querySelector("[data-order-link]");
    line.textContent = `Your order is confirmed.${email ? ` We are emailing a receipt to ${email}.` : ""}`;
    try {
      const order = await api.get(`/api/orders/by-checkout/${encodeURIComponent(checkout.id)}`);
      line.textContent = `Order ${order.number} is confirmed.${email ? ` We are emailing a receipt to ${email}.` : ""}`;
      // The session shops on with a new empty cart: the summary shows what was ordered.
      cart = { currency: order.currency, items: order.lines.map((l) => ({ product_id: l.product_id, variant_id: l.variant_id, name: l.name, quantity: l.quantity, line_total: l.amount })) };
      renderSummary();
      const token = order.access_token ? `?token=${encodeURIComponent(order.access_token)}` : "";
      link.href = `/orders/${encodeURIComponent(order.id)}${token}`;
    } catch (err) {
      if (orderId) link.href = `/orders/${encodeURIComponent(orderId)}`;
      else link.parentElement.hidden = true;
    }
  },
};

// The step's submit button stays disabled until its form is complete.
async function whileLoading(panel, promise) {
  const submit = panel.querySelector("form button[type=submit]");
  if (submit) submit.disabled = true;
  try {
    return await promise;
  } finally {
    if (submit) submit.disabled = false;
  }
}

function text(key, value) {
  const el = root.querySelector(`[data-review="${key}"]`);
  if (el) el.textContent = value;
}

function sameAddress(a, b) {
  if (!a || !b) return !a && !b ? true : false;
  const keys = ["first_name", "last_name", "street1", "street2", "city", "state", "zip_code", "country"];
  return keys.every((k) => (a[k] || "") === (b[k] || ""));
}

const dateFormat = new Intl.DateTimeFormat("en-US", { weekday: "short", month: "short", day: "numeric", timeZone: "UTC" });
function deliveryWindow(option) {
  const est = option.estimate;
  if (!est) return option.estimated_days ? `${option.estimated_days} business days` : "";
  const earliest = dateFormat.format(new Date(est.earliest + "T00:00:00Z"));
  const latest = dateFormat.format(new Date(est.latest + "T00:00:00Z"));
  return earliest === latest ? `arrives ${earliest}` : `arrives ${earliest} – ${latest}`;
}

function shippingChoice(option, checked) {
  const label = document.createElement("label");
  label.className = "choice";
  const input = document.createElement("input");
  input.type = "radio";
  input.name = "shipping_method_id";
  input.value = option.id;
  input.checked = checked;
  input.setAttribute("aria-describedby", "shipping-error");
  const body = document.createElement("span");
  const title = document.createElement("strong");
  title.textContent = `${option.name} — ${option.cost ? money(option.cost, option.currency) : "Free"}`;
  body.append(title, document.createTextNode(`${option.description}; ${deliveryWindow(option)}`));
  label.append(input, body);
  return label;
}

async function onSubmit(form, submitter) {
  const type = form.dataset.submit;
  if (type === "SUBMIT_GUEST_INFO") {
    const fields = {
      email: form.elements.email.value.trim(),
      first_name: form.elements.first_name.value.trim(),
      last_name: form.elements.last_name.value.trim(),
      marketing_consent: form.elements.marketing_consent.checked,
    };
    const phone = form.elements.phone.value.trim();
    if (phone) fields.phone = phone;
    return sendEvent(type, fields, form);
  }
  if (type === "SUBMIT_SHIPPING" || type === "SUBMIT_BILLING") {
    const address = readAddress(form.querySelector("[data-address]"));
    const event = type === "SUBMIT_SHIPPING" && form.elements.same_billing.checked ? "USE_BILLING_AS_SHIPPING" : type;
    return sendEvent(event, { address }, form);
  }
  if (type === "SELECT_SHIPPING") {
    const chosen = form.querySelector("input[name=shipping_method_id]:checked");
    if (!chosen) return reportError({ message: "Choose a delivery option.", fields: [{ path: ["shipping_method_id"], message: "Choose a delivery option." }] }, form);
    return sendEvent(type, { shipping_method_id: chosen.value }, form);
  }
  if (type === "SELECT_PAYMENT") {
    let method;
    try {
      method = await payment.method(form, checkout);
    } catch (err) {
      return reportError(err, form);
    }
    return sendEvent(type, { payment_method: method }, form);
  }
  return sendEvent(type, {}, form);
}

// One key per attempt: a double click or a retried request cannot pay twice.
let confirmKey = null;
async function placeOrder() {
  confirmKey = confirmKey || newIdempotencyKey();
  const view = await sendEvent("CONFIRM_ORDER", {}, null, { idempotencyKey: confirmKey });
  if (view) confirmKey = null;
  if (view && view.state === "payment_processing") await settle(payment.afterConfirm(view));
}

// The wallet sheet handed back a PaymentMethod: choose it and place the order. Returns
// the checkout in payment_processing (for Stripe.js to confirm), or null if refused.
async function placeWalletOrder(paymentMethodId) {
  const chosen = await sendEvent("SELECT_PAYMENT", { payment_method: { type: "card", payment_method_id: paymentMethodId } });
  if (!chosen || chosen.state !== "order_review") return null;
  confirmKey = confirmKey || newIdempotencyKey();
  const view = await sendEvent("CONFIRM_ORDER", {}, null, { idempotencyKey: confirmKey });
  if (view) confirmKey = null;
  return view && view.state === "payment_processing" ? view : null;
}

// Whatever the payment call answers, the checkout's state on the server says what next.
async function settle(paying) {
  try {
    const status = await paying;
    if (status && status.order_id) orderId = status.order_id;
  } catch (err) {
    return settleFailed(err);
  }
  return refresh();
}

async function settleFailed(err) {
  await refresh().catch(() => {});
  reportError(err);
}

async function signIn(form, submitter) {
  clearFieldErrors(form);
  clearPageError();
  const mode = submitter && submitter.dataset.auth === "register" ? "register" : "login";
  const body = { email: form.elements.email.value.trim(), password: form.elements.password.value };
  setBusy(true);
  try {
    const signedIn = await api.post(`/api/auth/${mode}`, body);
    resetSession({ kind: "registered", user_id: signedIn.user.id, cart_id: signedIn.cart_id, csrf_token: signedIn.csrf_token, csrf_header: signedIn.csrf_header });
    me = { kind: "registered", email: signedIn.user.email };
    await sendEvent("LOGIN_SUCCEEDED");
    cart = await api.get("/api/cart");
    renderSummary();
  } catch (err) {
    setBusy(false);
    reportError(err, form);
  }
}

// --- waiting on the server (payment in flight) -------------------------------------

const WAITING = new Set(["payment_processing", "payment_success"]);
function schedulePoll() {
  clearTimeout(pollTimer);
  if (!WAITING.has(checkout.state)) return;
  pollTimer = setTimeout(async () => {
    try { await refresh(); } catch (err) { schedulePoll(); }
  }, 1000);
}

// --- the order summary -----------------------------------------------------------------

function renderSummary() {
  const list = document.getElementById("summary-lines");
  const totals = checkout.context.totals;
  const currency = (totals && totals.currency) || (cart && cart.currency) || "USD";
  list.replaceChildren();
  for (const item of (cart && cart.items) || []) {
    const li = document.createElement("li");
    li.className = "line";
    const title = document.createElement("p");
    title.textContent = `${item.quantity} × ${item.name || "Item"}`;
    const amount = document.createElement("p");
    amount.className = "line-total";
    amount.textContent = money(item.line_total, currency);
    const stock = document.createElement("p");
    stock.className = "stock";
    stock.dataset.stockFor = item.product_id;
    if (item.variant_id) stock.dataset.variantId = item.variant_id;
    stock.setAttribute("aria-live", "polite");
    if (typeof item.in_stock === "boolean") setLevel(item.product_id, item.variant_id, { available: item.available_quantity, in_stock: item.in_stock });
    li.append(title, stock, amount);
    list.append(li);
  }
  for (const item of (cart && cart.items) || []) drawBadges(item.product_id);
  const dl = document.getElementById("summary-totals");
  if (totals) fillTotals(dl, totals, false);
  else if (cart) {
    dl.replaceChildren(totalRow("Subtotal", money(cart.totals.subtotal, currency)), totalRow("Total", money(cart.totals.total, currency), "grand"));
  }
  document.getElementById("summary-note").textContent = totals && !totals.tax_calculated ? "Tax is worked out once we know your address." : "";
}

// Parts per million -> "7.25%", without floating point.
function percent(ppm) {
  const frac = String(ppm % 10000).padStart(4, "0").replace(/0+$/, "");
  return `${Math.floor(ppm / 10000)}${frac ? "." + frac : ""}%`;
}

function totalRow(term, value, className) {
  const div = document.createElement("div");
  if (className) div.className = className;
  const dt = document.createElement("dt");
  const dd = document.createElement("dd");
  dt.textContent = term;
  dd.textContent = value;
  div.append(dt, dd);
  return div;
}

function fillTotals(dl, totals, full) {
  const c = totals.currency;
  const rows = [totalRow("Subtotal", money(totals.subtotal, c))];
  if (totals.discount) rows.push(totalRow("Discount", `−${money(totals.discount, c)}`));
  for (const promo of full ? totals.promotions || [] : []) {
    if (promo.code && promo.amount) rows.push(totalRow(`Coupon ${promo.code}`, `−${money(promo.amount, c)}`));
  }
  const shippingKnown = totals.shipping_line && totals.shipping_line.method_id;
  rows.push(totalRow("Shipping", shippingKnown ? (totals.shipping ? money(totals.shipping, c) : "Free") : "Next step"));
  if (full && totals.tax_breakdown && totals.tax_breakdown.length) {
    for (const tax of totals.tax_breakdown) rows.push(totalRow(`${tax.name || tax.jurisdiction || "Tax"} (${percent(tax.rate_ppm)})`, money(tax.tax_amount, c)));
  } else {
    rows.push(totalRow(totals.tax_inclusive ? "Tax (included)" : "Tax", totals.tax_calculated ? money(totals.tax, c) : "After address"));
  }
  rows.push(totalRow("Total", money(totals.total, c), "grand"));
  dl.replaceChildren(...rows);
}

onStock((productId) => {
  const item = cart && cart.items.find((i) => i.product_id === productId);
  const level = item && levelOf(productId, item.variant_id || "");
  if (level && !level.in_stock && !["order_confirmation", "payment_success", "payment_processing", "payment_refunded"].includes(checkout.state)) {
    showPageError(`${item.name} just sold out. Go back to your cart to change your order.`);
  }
});

// --- start -------------------------------------------------------------------------------

async function start() {
  try {
    me = await session();
    if (me.kind === "registered") {
      api.get("/api/auth/me").then((u) => { me = { ...me, email: u.email }; if (checkout && checkout.state === "user_identification") STEPS.user_identification(); }).catch(() => {});
    }
    const id = new URL(location.href).searchParams.get("id");
    let view = null;
    if (id) {
      try {
        view = await api.get(`/api/checkout/${encodeURIComponent(id)}`);
      } catch (err) {
        if (err.status !== 404 && err.status !== 403 && err.status !== 422) throw err;
      }
    }
    // POST answers the cart's live checkout if there is one, so this resumes too.
    if (!view) view = await api.post("/api/checkout", {});
    cart = await api.get("/api/cart");
    showCartCount(cart.totals.item_count);
    show(view);
    watchStock(cart.items.map((i) => i.product_id));
  } catch (err) {
    root.replaceChildren();
    if (err.status === 422 || err.status === 409) {
      showPageError(`${err.message} Go back to your cart to fix it.`);
    } else {
      reportError(err);
    }
  }
  performance.mark("checkout-interactive");
  document.documentElement.dataset.ready = "true";
}

start();
