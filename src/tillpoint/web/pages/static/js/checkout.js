// The checkout page: three screens from the cart to "Place order" (contact and address;
// delivery and payment; review), each drawn from the server's checkout state. A screen
// sends the state machine's events in order (SELECT_GUEST, SUBMIT_GUEST_INFO, the
// address, ...) without redrawing between them. Nothing about progress is kept in the
// browser, so reload always comes back to where the server says the customer is; the
// browser's Back moves one screen back through the machine's edit events.
import { addressFieldset, describeAddress, readAddress } from "./address.js";
import { api, money, newIdempotencyKey, resetSession, session } from "./api.js";
import { showCartCount } from "./cart_count.js";
import { announce, clearFieldErrors, clearPageError, reportError, showPageError } from "./feedback.js";
import { payment } from "./payment.js";
import { drawBadges, levelOf, onStock, setLevel, watchStock } from "./stock.js";
import { checkAll, validateOnBlur } from "./validation.js";

const root = document.getElementById("step");
// States drawn by one screen; the rest have a template of their own.
const SCREEN_OF = {
  user_identification: "contact", auth_redirect: "contact", guest_info: "contact",
  shipping_address: "contact", billing_address: "contact",
  shipping_method: "delivery", payment_method: "delivery", order_review: "review",
};
// The progress bar's step for each state.
const STEP_OF = {
  cart_review: "contact", ...SCREEN_OF, payment_failed: "delivery",
  payment_processing: "review", payment_requires_action: "review",
  payment_success: "done", payment_refunded: "done", order_confirmation: "done",
};
const ORDER = { contact: 1, delivery: 2, review: 3, done: 4 };
const SCREEN_TITLES = { contact: "Contact and address", delivery: "Delivery and payment", review: "Review and pay" };
const TITLES = {
  cart_review: "Review your cart", payment_processing: "Processing payment",
  payment_requires_action: "Confirm payment", payment_success: "Payment received",
  payment_failed: "Payment failed", payment_refunded: "Payment refunded", order_confirmation: "Order confirmed",
  expired: "Checkout expired",
};
const ADDRESS_KEYS = ["first_name", "last_name", "street1", "street2", "city", "state", "zip_code", "country", "phone"];

let checkout = null;
let cart = null;
let me = null;
let busy = false;
let chaining = false;
let pollTimer = null;
let drawnKey = null;
let drawnState = null;
let orderId = null;
let notice = "";

const screenOf = (state) => SCREEN_OF[state] || state;
const titleOf = (state) => SCREEN_TITLES[SCREEN_OF[state]] || TITLES[state] || state;

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

// Sends the events `next(state)` names, one after another, until it names none or one
// is refused; the screen is drawn once at the end, so what the shopper typed stays.
async function chain(next, form) {
  chaining = true;
  let ok = true;
  try {
    for (let i = 0; i < 8; i += 1) {
      const planned = await next(checkout.state);
      if (!planned) break;
      const [type, fields, errorRoot] = planned;
      if (!(await sendEvent(type, fields, errorRoot || form))) { ok = false; break; }
    }
  } finally {
    chaining = false;
  }
  if (screenOf(checkout.state) !== drawnKey) show(checkout);
  else { setBusy(false); updateScreen(); }
  return ok;
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
  checkout = view;
  const url = new URL(location.href);
  if (url.searchParams.get("id") !== view.id) {
    url.searchParams.set("id", view.id);
    history.replaceState(history.state, "", url);
  }
  renderSteps();
  renderSummary();
  if (chaining) return;
  const key = screenOf(view.state);
  if (key !== drawnKey || view.state !== drawnState) {
    const first = drawnKey === null;
    drawStep();
    remember(key, first);
    if (!first) {
      const heading = document.getElementById("step-heading");
      if (heading) heading.focus();
      announce(titleOf(view.state));
    }
    drawnKey = key;
    drawnState = view.state;
    if (notice) { showPageError(notice); notice = ""; }
  } else {
    setBusy(false);
  }
  schedulePoll();
  document.title = `${titleOf(view.state)} · Checkout · tillpoint`;
}

function renderSteps() {
  const current = STEP_OF[checkout.state];
  const done = ORDER[current] || 0;
  const open = !["payment_processing", "payment_requires_action", "payment_success", "payment_refunded", "order_confirmation", "expired"].includes(checkout.state);
  document.querySelectorAll("#steps [data-step]").forEach((li) => {
    const step = li.dataset.step;
    const label = li.textContent;
    if (step === current) li.setAttribute("aria-current", "step");
    else li.removeAttribute("aria-current");
    li.classList.toggle("finished", ORDER[step] < done);
    // A finished step is a link back to it while the checkout can still change.
    if (ORDER[step] < done && open && canGoBack(step)) {
      const link = document.createElement("a");
      link.href = `#${step}`;
      link.textContent = label;
      link.dataset.go = step;
      link.addEventListener("click", (event) => { event.preventDefault(); returnTo(step); });
      li.replaceChildren(link);
    } else {
      const span = document.createElement("span");
      span.textContent = label;
      li.replaceChildren(span);
    }
  });
}

function drawStep() {
  const key = screenOf(checkout.state);
  const template = document.getElementById(SCREEN_OF[checkout.state] ? `tpl-screen-${key}` : `tpl-${checkout.state}`);
  root.dataset.state = checkout.state;
  root.dataset.screen = key;
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
  root.querySelectorAll("button[data-go]").forEach((button) => {
    button.hidden = !canGoBack(button.dataset.go);
    button.addEventListener("click", () => returnTo(button.dataset.go));
  });
  root.querySelectorAll("[data-change]").forEach((button) => {
    const contact = button.dataset.change === "contact" && canEditContact();
    button.hidden = !contact && !checkout.allowed_events.includes("EDIT_SHIPPING");
    button.addEventListener("click", () => (contact ? sendEvent("EDIT_CONTACT") : goBack(button.dataset.change)));
  });
  const fill = SCREEN_OF[checkout.state] ? SCREENS[key] : STEPS[checkout.state];
  if (fill) fill();
}

// Within one screen the state moved (say the guest's details were saved but the address
// was refused): only what depends on the state is redrawn, the typed fields stay.
function updateScreen() {
  root.dataset.state = checkout.state;
  drawnState = checkout.state;
  if (SCREEN_OF[checkout.state] === "contact") showContact();
  if (SCREEN_OF[checkout.state] === "delivery") showDeliveryChoice();
}

function onEventButton(button) {
  const type = button.dataset.event;
  if (type === "CONFIRM_ORDER") return placeOrder(button);
  if (type === "LOGIN_REQUIRED") {
    const typed = root.querySelector("#guest-email");
    if (typed && typed.value) notice = "";
    sessionStorage.setItem("tillpoint.typed-email", typed ? typed.value.trim() : "");
  }
  return sendEvent(type);
}

// --- the screens --------------------------------------------------------------------

const ctx = () => checkout.context;

const SCREENS = {
  async contact() {
    const form = root.querySelector("[data-contact-form]");
    const signingIn = checkout.state === "auth_redirect";
    // Signing in, or the guest's form: only one of them is in the page.
    const panel = root.querySelector("[data-signin-panel]");
    panel.hidden = !signingIn;
    if (signingIn) { form.remove(); return drawSignIn(); }
    panel.remove();
    validateOnBlur(form);
    form.addEventListener("submit", (event) => { event.preventDefault(); submitContact(form); });
    form.elements.same_billing.addEventListener("change", () => toggleBilling(form));
    const info = ctx().guest_info || {};
    // A checkout session's customer_email prefills the form (the shopper may change it).
    const sessionEmail = (document.getElementById("checkout-session") || { dataset: {} }).dataset.customerEmail;
    if (info.email || sessionEmail) form.elements.email.value = info.email || sessionEmail;
    form.elements.marketing_consent.checked = Boolean(info.marketing_consent);
    showContact();
    const shipping = ctx().shipping_address || names();
    if (checkout.state === "billing_address") {
      // The shipping address is saved; this visit is for the billing one.
      root.querySelector("[data-ship-known]").hidden = false;
      text("ship_known", describeAddress(shipping));
    } else {
      await whileLoading(root, addressFieldset(root.querySelector("[data-address-slot]"), { prefix: "shipping", legend: "Shipping address", values: shipping }));
      await offerSavedAddresses();
    }
    const billingDiffers = ctx().billing_address && ctx().shipping_address && !sameAddress(ctx().billing_address, ctx().shipping_address);
    if (billingDiffers || checkout.state === "billing_address") {
      form.elements.same_billing.checked = false;
      await toggleBilling(form);
    }
    payment.mountWallet(root, checkout, walletHooks(), cart).catch(() => {});
  },
  async delivery() {
    const form = root.querySelector("[data-delivery-form]");
    form.addEventListener("submit", (event) => { event.preventDefault(); submitDelivery(form); });
    text("shipping_address", describeAddress(ctx().shipping_address));
    showDeliveryChoice();
    payment.mount(root, checkout).catch((err) => reportError(err));
    if (checkout.state === "shipping_method") await loadShippingOptions(form);
  },
  review() {
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
};

const names = () => {
  const from = ctx().guest_info || {};
  return { first_name: from.first_name || "", last_name: from.last_name || "" };
};

// A signed-in shopper's address book (/account): choosing one fills the shipping address.
async function offerSavedAddresses() {
  if (!(me && me.kind === "registered")) return;
  let saved = [];
  try {
    saved = (await api.get("/api/account/addresses")).items;
  } catch {
    return; // the form still works without the address book
  }
  const slot = root.querySelector("[data-address-slot]");
  if (!saved.length || !slot) return;
  const node = document.getElementById("tpl-saved-addresses").content.firstElementChild.cloneNode(true);
  const select = node.querySelector("select");
  for (const item of saved) select.add(new Option(describeAddress(item.address), item.id));
  select.addEventListener("change", async () => {
    const chosen = saved.find((item) => item.id === select.value);
    if (chosen) await addressFieldset(slot, { prefix: "shipping", legend: "Shipping address", values: chosen.address });
  });
  slot.before(node);
}

// Who is checking out: the guest's e-mail field until it is saved, then the saved contact.
function showContact() {
  const registered = me && me.kind === "registered";
  const saved = ctx().guest_info;
  const known = registered || (saved && checkout.state !== "user_identification" && checkout.state !== "guest_info");
  const guest = root.querySelector("[data-contact-guest]");
  const box = root.querySelector("[data-contact-known]");
  if (!guest || !box) return;
  guest.hidden = Boolean(known);
  guest.disabled = Boolean(known);
  box.hidden = !known;
  const email = registered ? (me.email || "your account") : saved && saved.email;
  box.querySelector("[data-contact-note]").hidden = Boolean(registered);
  box.querySelector("[data-contact-text]").textContent = registered ? `Signed in as ${email}` : `${email || ""}`;
  const change = box.querySelector("[data-edit-contact]");
  if (change) {
    change.hidden = !canEditContact();
    change.onclick = () => sendEvent("EDIT_CONTACT");
  }
}

function drawSignIn() {
  const form = root.querySelector("#auth-form");
  const typed = sessionStorage.getItem("tillpoint.typed-email");
  if (typed) form.elements.email.value = typed;
  validateOnBlur(form);
  form.addEventListener("submit", (event) => { event.preventDefault(); signIn(form, event.submitter); });
}

async function toggleBilling(form) {
  const slot = root.querySelector("[data-billing-slot]");
  const separate = !form.elements.same_billing.checked;
  slot.hidden = !separate;
  if (separate && !slot.querySelector("[data-address]")) {
    const ship = root.querySelector("[data-address-slot] [data-address]");
    const typed = ship ? { first_name: ship.querySelector("[name=first_name]").value, last_name: ship.querySelector("[name=last_name]").value } : names();
    const values = ctx().billing_address || typed;
    await addressFieldset(slot, { prefix: "billing", legend: "Billing address", values });
    // The billing fieldset's own paths, so an error about it lands in it.
    slot.querySelectorAll("[data-path^='address.']").forEach((el) => { el.dataset.path = `billing.${el.dataset.path}`; });
    slot.querySelectorAll("[data-error-for^='address.']").forEach((el) => { el.dataset.errorFor = `billing.${el.dataset.errorFor}`; });
  }
}

async function submitContact(form) {
  if (!checkAll(form)) return;
  const shipNode = root.querySelector("[data-address-slot] [data-address]");
  const billNode = root.querySelector("[data-billing-slot] [data-address]");
  const same = form.elements.same_billing.checked;
  const ship = shipNode ? readAddress(shipNode) : addressInput(ctx().shipping_address);
  const registered = me && me.kind === "registered";
  const steps = {
    user_identification: () => [registered ? "SELECT_REGISTERED" : "SELECT_GUEST", {}],
    guest_info: () => ["SUBMIT_GUEST_INFO", {
      email: form.elements.email.value.trim(), first_name: ship.first_name, last_name: ship.last_name,
      marketing_consent: form.elements.marketing_consent.checked,
    }],
    shipping_address: () => [same ? "USE_BILLING_AS_SHIPPING" : "SUBMIT_SHIPPING", { address: ship }, shipNode],
    billing_address: () => (same ? ["USE_SHIPPING_ADDRESS", {}] : ["SUBMIT_BILLING", { address: readAddress(billNode) }, billingErrors(billNode)]),
  };
  await chain((state) => (steps[state] ? steps[state]() : null), form);
}

// Errors about SUBMIT_BILLING's address: its fields carry "billing.address.x" paths.
function billingErrors(node) {
  return {
    querySelectorAll: (sel) => node.querySelectorAll(sel.replace(/"address\./g, '"billing.address.')),
    querySelector: (sel) => node.querySelector(sel.replace(/"address\./g, '"billing.address.')),
  };
}

function showDeliveryChoice() {
  const choosing = checkout.state === "shipping_method";
  const choice = root.querySelector("[data-delivery-choice]");
  if (!choice) return;
  choice.hidden = !choosing;
  root.querySelector("[data-delivery-known]").hidden = choosing;
  const method = ctx().shipping_method || {};
  text("shipping_method", method.name ? `${method.name} — ${method.cost ? money(method.cost, method.currency || ctx().totals.currency) : "Free"}, ${deliveryWindow(method)}` : "");
}

async function loadShippingOptions(form) {
  const slot = root.querySelector("[data-shipping-options]");
  const submit = form.querySelector("button[type=submit]");
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
}

async function submitDelivery(form) {
  clearFieldErrors(form);
  const chosen = form.querySelector("input[name=shipping_method_id]:checked");
  if (checkout.state === "shipping_method" && !chosen) {
    return reportError({ message: "Choose a delivery option.", fields: [{ path: ["shipping_method_id"], message: "Choose a delivery option." }] }, form);
  }
  let method;
  try {
    method = await payment.method(form, checkout);
  } catch (err) {
    return reportError(err, form);
  }
  const steps = {
    shipping_method: () => ["SELECT_SHIPPING", { shipping_method_id: chosen.value }],
    payment_method: () => ["SELECT_PAYMENT", { payment_method: method }],
  };
  return chain((state) => (steps[state] ? steps[state]() : null), form);
}

// --- moving back -----------------------------------------------------------------------

// A guest may reopen the contact details (the e-mail) from any screen after them; signed
// in, they are the account's.
function canEditContact() {
  return !(me && me.kind === "registered") && checkout.allowed_events.includes("EDIT_CONTACT");
}

// Whether the machine can take the shopper back to `screen` from where they are.
function canGoBack(screen) {
  const here = SCREEN_OF[checkout.state];
  if (!here || !(ORDER[screen] < ORDER[here])) return false;
  return checkout.allowed_events.includes("EDIT_SHIPPING");
}

// The address as the API takes it (the context may carry more, such as a normalised form).
function addressInput(a) {
  const out = {};
  for (const key of ADDRESS_KEYS) if (a && a[key] != null && a[key] !== "") out[key] = a[key];
  return out;
}

// Back to an earlier screen with the machine's edit events: EDIT_SHIPPING reopens the
// address; for delivery the saved addresses are sent again to reach the delivery choice.
async function goBack(screen) {
  if (!canGoBack(screen)) return false;
  const c = ctx();
  const same = sameAddress(c.billing_address, c.shipping_address);
  const edit = () => ["EDIT_SHIPPING", {}];
  const steps = {
    order_review: edit, shipping_method: edit, payment_method: edit,
    shipping_address: () => [same ? "USE_BILLING_AS_SHIPPING" : "SUBMIT_SHIPPING", { address: addressInput(c.shipping_address) }],
    billing_address: () => ["SUBMIT_BILLING", { address: addressInput(c.billing_address) }],
  };
  // Back to contact stops at the address; back to delivery goes on to the delivery choice.
  const going = (state) => steps[state] && (steps[state] === edit || screen === "delivery");
  return chain((state) => (going(state) ? steps[state]() : null));
}

// "Return to …" and the progress bar's links: one history entry back when the page
// pushed it, so Back and Forward stay in step; otherwise straight through the machine.
function returnTo(screen) {
  const trail = (history.state && history.state.trail) || [];
  const at = trail.lastIndexOf(screen);
  if (at >= 0 && at < trail.length - 1) history.go(at - (trail.length - 1));
  else goBack(screen);
}

function remember(key, first) {
  const trail = (history.state && history.state.trail) || [];
  if (first || !ORDER[key]) {
    const kept = trail.length && trail[trail.length - 1] === key ? trail : [...trail.filter((s) => ORDER[s] < (ORDER[key] || 0)), key];
    history.replaceState({ screen: key, trail: kept }, "", location.href);
  } else if (ORDER[key] > (ORDER[trail[trail.length - 1]] || 0)) {
    history.pushState({ screen: key, trail: [...trail, key] }, "", location.href);
  } else {
    history.replaceState({ screen: key, trail: [...trail.filter((s) => ORDER[s] < ORDER[key]), key] }, "", location.href);
  }
}

window.addEventListener("popstate", async (event) => {
  if (!checkout) return;
  const target = event.state && event.state.screen;
  const here = screenOf(checkout.state);
  if (target && ORDER[target] < (ORDER[here] || 0) && canGoBack(target)) {
    if (await goBack(target)) return;
  }
  // Not a move the checkout can make (forward again, or after paying): stay.
  const trail = (event.state && event.state.trail) || [];
  history.replaceState({ screen: here, trail: [...trail.filter((s) => ORDER[s] < (ORDER[here] || 0)), here] }, "", location.href);
  if (target && target !== here && ORDER[target] < (ORDER[here] || 0) && SCREEN_OF[checkout.state]) {
    showPageError("Your details are saved. To change your contact or address, continue to the review and choose Change.");
  }
});

// --- the steps outside the three screens -------------------------------------------------

const STEPS = {
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
    // A checkout session's purchase: back to the shop's success_url (session id filled in).
    const sessionBox = document.getElementById("checkout-session");
    if (sessionBox && sessionBox.dataset.successUrl) {
      location.assign(sessionBox.dataset.successUrl);
      return;
    }
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
      link.parentElement.hidden = false;
    } catch (err) {
      // Shown only with its address: a click before the lookup answered went home.
      if (orderId) {
        link.href = `/orders/${encodeURIComponent(orderId)}`;
        link.parentElement.hidden = false;
      }
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

// One key per attempt: a double click or a retried request cannot pay twice.
let confirmKey = null;
async function placeOrder(button) {
  // Says it is working, and cannot be pressed twice, until the server has answered.
  const label = button && button.querySelector("[data-place-label]");
  const before = label ? label.textContent : "";
  if (label) label.textContent = "Processing…";
  if (button) button.setAttribute("aria-busy", "true");
  announce("Processing your order…");
  confirmKey = confirmKey || newIdempotencyKey();
  const view = await sendEvent("CONFIRM_ORDER", {}, null, { idempotencyKey: confirmKey });
  if (view) confirmKey = null;
  else if (label && label.isConnected) { label.textContent = before; button.removeAttribute("aria-busy"); }
  if (view && view.state === "payment_processing") await settle(payment.afterConfirm(view));
}

// The wallet at the top of the checkout: its sheet gives the e-mail, name, address and
// a PaymentMethod, and the page sends the machine's events with them. When the sheet's
// amount is the order's total the order is placed at once (Stripe.js then confirms);
// otherwise (delivery and tax came on top) the review shows the total to place it.
function walletHooks() {
  return {
    settle,
    async placeOrder(ev, sheetAmount) {
      const address = walletAddress(ev);
      const registered = me && me.kind === "registered";
      const steps = {
        user_identification: () => [registered ? "SELECT_REGISTERED" : "SELECT_GUEST", {}],
        guest_info: () => ["SUBMIT_GUEST_INFO", { email: ev.payerEmail || "", first_name: address.first_name, last_name: address.last_name, marketing_consent: false }],
        shipping_address: () => ["USE_BILLING_AS_SHIPPING", { address }],
        billing_address: () => ["USE_SHIPPING_ADDRESS", {}],
        shipping_method: async () => {
          const options = await api.get(`/api/checkout/${checkout.id}/shipping-options`);
          return options.items.length ? ["SELECT_SHIPPING", { shipping_method_id: options.items[0].id }] : null;
        },
        payment_method: () => ["SELECT_PAYMENT", { payment_method: { type: "card", payment_method_id: ev.paymentMethod.id } }],
      };
      await chain((state) => (steps[state] ? steps[state]() : null), root.querySelector("form"));
      if (checkout.state !== "order_review") return null;
      if (!checkout.context.totals || checkout.context.totals.total !== sheetAmount) return { review: true };
      confirmKey = confirmKey || newIdempotencyKey();
      const view = await sendEvent("CONFIRM_ORDER", {}, null, { idempotencyKey: confirmKey });
      if (view) confirmKey = null;
      return view && view.state === "payment_processing" ? view : null;
    },
  };
}

// The wallet's shipping address (Payment Request API shape) as the API's address.
function walletAddress(ev) {
  const a = ev.shippingAddress || {};
  const [first, ...rest] = (a.recipient || ev.payerName || "").trim().split(/\s+/);
  const lines = a.addressLine || [];
  const address = {
    first_name: first || "", last_name: rest.join(" "), street1: lines[0] || "",
    city: a.city || "", state: a.region || "", zip_code: a.postalCode || "", country: (a.country || "US").toUpperCase(),
  };
  if (lines[1]) address.street2 = lines[1];
  return address;
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
  const grand = totals ? money(totals.total, currency) : cart && cart.totals ? money(cart.totals.total, currency) : "";
  document.getElementById("summary-total").textContent = grand;
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
  // One line per coupon with its amount; a generic "Discount" line only for what the
  // coupons do not account for (two lines for one saving read as twice the saving).
  const seen = new Set();
  let named = 0;
  for (const promo of totals.promotions || []) {
    if (!promo.code || !promo.amount || seen.has(promo.code)) continue;
    seen.add(promo.code);
    named += promo.amount;
    rows.push(totalRow(`Coupon ${promo.code}`, `−${money(promo.amount, c)}`));
  }
  const rest = (totals.discount || 0) - named;
  if (rest > 0) rows.push(totalRow(named ? "Other discount" : "Discount", `−${money(rest, c)}`));
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

// On a phone the summary is a bar at the top showing the total; it opens on a tap. From
// 64rem up it sits beside the steps, always open.
function summaryToggle() {
  const button = document.getElementById("summary-toggle");
  const body = document.getElementById("summary-body");
  const wide = window.matchMedia("(min-width: 64rem)");
  const label = button.querySelector("#summary-heading");
  const set = (open) => {
    button.setAttribute("aria-expanded", open ? "true" : "false");
    // Beside the steps it cannot close: not a control there.
    button.disabled = wide.matches;
    body.hidden = !open;
    label.textContent = wide.matches ? "Order summary" : open ? "Hide order summary" : "Show order summary";
  };
  set(wide.matches);
  button.addEventListener("click", () => { if (!wide.matches) set(body.hidden); });
  wide.addEventListener("change", () => set(wide.matches));
}

// --- start -------------------------------------------------------------------------------

async function start() {
  summaryToggle();
  try {
    me = await session();
    if (me.kind === "registered") {
      api.get("/api/auth/me").then((u) => { me = { ...me, email: u.email }; if (checkout && SCREEN_OF[checkout.state] === "contact") showContact(); }).catch(() => {});
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
