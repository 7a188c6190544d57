// Payment in the page. With the sandbox gateway: a picker of its test cards, whose
// ids go to the server as the payment method. With Stripe: Stripe.js (loaded from the
// configured origin) with its Card Element, and the Payment Request Button (Apple Pay /
// Google Pay) where the browser offers a wallet. Card data goes from the browser to
// Stripe, never to this shop: the server only ever sees payment method ids.
import { api, ApiError } from "./api.js";

const TEST_CARDS = {
  pm_card_visa: "Visa ending 4242 (test card)",
  pm_card_chargeDeclined: "Visa ending 0002 (test card)",
  pm_card_threeDSecure2Required: "Visa ending 3155 (test card)",
};

let configPromise = null;
function config() {
  if (!configPromise) {
    configPromise = api.get("/api/payment/config").catch(() => ({ gateway: "sandbox", publishable_key: null, methods: [] }));
  }
  return configPromise;
}

const stripeJsUrl = () => document.getElementById("checkout-config").dataset.stripeJs;

let stripePromise = null;
function loadStripe(key) {
  if (!stripePromise) {
    stripePromise = new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = stripeJsUrl();
      script.onload = () => resolve(window.Stripe(key));
      script.onerror = () => { stripePromise = null; reject(cardError(0, "stripe_unavailable", "The card form could not load. Check your connection and try again.")); };
      document.head.append(script);
    });
  }
  return stripePromise;
}

async function stripeClient() {
  return loadStripe((await config()).publishable_key);
}

function cardError(status, code, message) {
  return new ApiError(status, { error: { code, message, fields: [{ path: ["payment_method_id"], message }] } });
}

let card = null;
let cardEmpty = true;
let walletButton = null;

async function usesStripe() {
  const c = await config();
  return c.gateway === "stripe" && Boolean(c.publishable_key);
}

async function walletsEnabled() {
  const methods = (await config()).methods || [];
  return methods.some((m) => m.type === "digital_wallet" && m.enabled);
}

function billingDetails(checkout) {
  const ctx = (checkout && checkout.context) || {};
  const a = ctx.billing_address || ctx.shipping_address || null;
  const details = {};
  if (a) {
    details.name = `${a.first_name || ""} ${a.last_name || ""}`.trim() || undefined;
    details.address = { line1: a.street1, line2: a.street2 || undefined, city: a.city, state: a.state || undefined, postal_code: a.zip_code || undefined, country: a.country };
  }
  if (ctx.guest_info && ctx.guest_info.email) details.email = ctx.guest_info.email;
  return details;
}

// The Card Element's card as a payment method id. Stripe.js makes a PaymentMethod;
// a stand-in whose createPaymentMethod does nothing (localstripe's) can still
// tokenise, and the token's card id is a payment method its API accepts.
// Brand and last four of each card made on this page, by its method id, kept for this tab:
// the review step names the card ("VISA ending 4242") from what Stripe.js handed back,
// without another call (the card number itself never reaches us).
const CARD_LABELS = "tillpoint.card-labels";

function cardLabels() {
  try {
    return JSON.parse(sessionStorage.getItem(CARD_LABELS) || "{}");
  } catch {
    return {}; // storage refused or garbled: the review says "Card"
  }
}

function rememberCard(id, card) {
  if (!id || !card || !card.brand || !card.last4) return;
  const labels = cardLabels();
  labels[id] = { brand: String(card.brand), last4: String(card.last4) };
  try {
    sessionStorage.setItem(CARD_LABELS, JSON.stringify(labels));
  } catch {
    // storage refused: nothing to remember, the review says "Card"
  }
}

async function cardMethodId(stripe, checkout) {
  if (cardEmpty) throw cardError(422, "required", "Enter your card details.");
  if (typeof stripe.createPaymentMethod === "function") {
    const made = await stripe.createPaymentMethod({ type: "card", card, billing_details: billingDetails(checkout) });
    if (made && made.error) throw cardError(402, "card_error", made.error.message || "Your card could not be used.");
    if (made && made.paymentMethod) {
      rememberCard(made.paymentMethod.id, made.paymentMethod.card);
      return made.paymentMethod.id;
    }
  }
  const token = await stripe.createToken(card);
  if (!token || token.error || !token.token || !token.token.card) {
    const error = (token && token.error) || {};
    const message = error.type && error.message ? error.message : "Check your card number, expiry date and security code.";
    throw cardError(402, "card_error", message);
  }
  rememberCard(token.token.card.id, token.token.card);
  return token.token.card.id;
}

// Apple Pay / Google Pay through Stripe's Payment Request Button, at the top of the
// checkout, shown only when canMakePayment() says the browser has a wallet. Its sheet
// hands back the payer, the address and a PaymentMethod; hooks.placeOrder(ev, amount)
// sends the checkout's events with them and either places the order (Stripe.js then
// confirms the intent) or, when delivery and tax changed the total, leaves the review
// to place it; the sheet is told how that went.
async function mountWallet(root, stripe, checkout, hooks, cart) {
  const slot = root.querySelector("[data-wallet]");
  if (!slot || typeof stripe.paymentRequest !== "function" || !(await walletsEnabled())) return;
  const totals = checkout.context.totals || (cart && { ...cart.totals, currency: cart.currency });
  if (!totals || !totals.total) return;
  const final = Boolean(checkout.context.totals && checkout.context.totals.tax_calculated && checkout.context.shipping_method);
  const request = stripe.paymentRequest({
    country: (await config()).account_country || "US",
    currency: totals.currency.toLowerCase(),
    // Before the address is known delivery and tax are not in it: the sheet says so.
    total: final ? { label: "tillpoint order", amount: totals.total } : { label: "tillpoint order (before delivery and tax)", amount: totals.total, pending: true },
    requestPayerEmail: true,
    requestPayerName: true,
    requestShipping: true,
  });
  let available = null;
  try {
    available = await request.canMakePayment();
  } catch (err) {
    available = null;
  }
  if (!available || !slot.isConnected) return;
  if (walletButton) walletButton.destroy();
  walletButton = stripe.elements().create("paymentRequestButton", { paymentRequest: request });
  walletButton.mount(slot.querySelector("#payment-request-button"));
  slot.hidden = false;
  request.on("shippingaddresschange", (ev) => ev.updateWith({ status: "success" }));
  request.on("paymentmethod", async (ev) => {
    let result = null;
    try {
      result = await hooks.placeOrder(ev, totals.total);
    } catch (err) {
      result = null;
    }
    if (!result) { ev.complete("fail"); return; }
    if (result.review) { ev.complete("success"); return; }
    hooks.settle(payWithWallet(stripe, result, ev));
  });
}

async function payWithWallet(stripe, view, ev) {
  const intent = await api.post("/api/payment/create-intent", { checkout_id: view.id });
  // Confirm without Stripe.js's own 3-D Secure handling, so the wallet sheet closes
  // first; then handle the bank's challenge if there is one.
  const first = await stripe.confirmCardPayment(intent.client_secret, { payment_method: ev.paymentMethod.id }, { handleActions: false });
  if (first.error) {
    ev.complete("fail");
  } else {
    ev.complete("success");
    if (first.paymentIntent && first.paymentIntent.status === "requires_action") await stripe.confirmCardPayment(intent.client_secret);
  }
  // Whatever Stripe.js said, the server reads the intent and moves the checkout.
  return api.post("/api/payment/confirm", { checkout_id: view.id });
}

export const payment = {
  // The payment part of the delivery screen: the sandbox's test cards, or Stripe's Card Element.
  async mount(root, checkout) {
    if (!(await usesStripe())) return;
    root.querySelector("[data-sandbox-cards]").hidden = true;
    root.querySelector("[data-stripe-card]").hidden = false;
    // Errors about the card are shown (and focused) at the Card Element.
    root.querySelector("#card-element").dataset.path = "payment_method_id";
    const stripe = await stripeClient();
    if (card) card.destroy();
    card = stripe.elements().create("card");
    cardEmpty = true;
    // Stripe.js says whether the card is empty; a stand-in just says it changed.
    card.on("change", (event) => { cardEmpty = Boolean(event && event.empty); });
    card.mount(root.querySelector("#card-element"));
  },

  // The express wallet at the top of the first screen (Stripe only).
  async mountWallet(root, checkout, hooks, cart) {
    if (!(await usesStripe())) return;
    await mountWallet(root, await stripeClient(), checkout, hooks, cart);
  },

  // The payment_method field of SELECT_PAYMENT.
  async method(form, checkout) {
    if (await usesStripe()) {
      const stripe = await stripeClient();
      return { type: "card", payment_method_id: await cardMethodId(stripe, checkout) };
    }
    const chosen = form.querySelector("input[name=test_card]:checked");
    if (!chosen) throw new ApiError(422, { error: { code: "required", message: "Choose a card.", fields: [{ path: ["payment_method_id"], message: "Choose a card." }] } });
    return { type: "card", payment_method_id: chosen.value };
  },

  describe(method) {
    if (!method) return "";
    const card = method.brand && method.last4 ? method : cardLabels()[method.payment_method_id];
    if (card) return `${card.brand.toUpperCase()} ending ${card.last4}`;
    return TEST_CARDS[method.payment_method_id] || "Card";
  },

  // After CONFIRM_ORDER (payment_processing): the server confirms the intent with the
  // method chosen at SELECT_PAYMENT and finalizes; a 3-D Secure card comes back as
  // payment_requires_action, drawn by challenge() below.
  async afterConfirm(view) {
    return api.post("/api/payment/confirm", { checkout_id: view.id });
  },

  // payment_requires_action: the bank's challenge. Stripe: Stripe.js runs it with the
  // intent's client secret; sandbox: our page plays the bank.
  async challenge(root, checkout, { done }) {
    if (await usesStripe()) {
      root.querySelector("[data-stripe-challenge]").hidden = false;
      const intent = await api.post("/api/payment/create-intent", { checkout_id: checkout.id });
      const stripe = await stripeClient();
      // A failed challenge is an answer too: the server reads the intent either way.
      await stripe.confirmCardPayment(intent.client_secret);
      return done(api.post("/api/payment/confirm", { checkout_id: checkout.id }));
    }
    const box = root.querySelector("[data-sandbox-challenge]");
    box.hidden = false;
    box.querySelectorAll("[data-challenge]").forEach((button) => {
      button.addEventListener("click", () => {
        box.querySelectorAll("button").forEach((b) => { b.disabled = true; });
        const success = button.dataset.challenge === "complete";
        done(api.post("/api/payment/sandbox/authenticate", { checkout_id: checkout.id, success }));
      });
    });
    return null;
  },
};
