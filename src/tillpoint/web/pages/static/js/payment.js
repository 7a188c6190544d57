// Payment in the page. With the sandbox gateway: a picker of its test cards, whose
// ids go to the server as the payment method. With Stripe: Stripe.js's Card Element
// (loaded from the configured origin) and confirmCardPayment, so card data goes from
// the browser to Stripe and never to this shop.
import { api, ApiError } from "./api.js";

const TEST_CARDS = {
  pm_card_visa: "Visa ending 4242 (test card)",
  pm_card_chargeDeclined: "Visa ending 0002 (test card)",
  pm_card_threeDSecure2Required: "Visa ending 3155 (test card)",
};

let configPromise = null;
function config() {
  if (!configPromise) {
    configPromise = api.get("/api/payment/config").catch(() => ({ gateway: "sandbox", publishable_key: null }));
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
      script.onerror = () => { stripePromise = null; reject(new ApiError(0, { error: { code: "stripe_unavailable", message: "The card form could not load. Check your connection and try again." } })); };
      document.head.append(script);
    });
  }
  return stripePromise;
}

let card = null;

async function usesStripe() {
  const c = await config();
  return c.gateway === "stripe" && Boolean(c.publishable_key);
}

export const payment = {
  async mount(root) {
    if (!(await usesStripe())) return;
    root.querySelector("[data-sandbox-cards]").hidden = true;
    root.querySelector("[data-stripe-card]").hidden = false;
    const stripe = await loadStripe((await config()).publishable_key);
    card = stripe.elements().create("card");
    card.mount(root.querySelector("#card-element"));
  },

  // The payment_method field of SELECT_PAYMENT.
  async method(form) {
    if (await usesStripe()) {
      const stripe = await loadStripe((await config()).publishable_key);
      const result = await stripe.createPaymentMethod({ type: "card", card });
      if (result && result.error) throw new ApiError(402, { error: { code: "card_error", message: result.error.message, fields: [{ path: ["payment_method_id"], message: result.error.message }] } });
      if (!result || !result.paymentMethod) {
        // localstripe's stand-in Stripe.js does not create PaymentMethods.
        throw new ApiError(502, { error: { code: "card_not_tokenised", message: "Your card could not be read. Please try again.", fields: [{ path: ["payment_method_id"], message: "Your card could not be read." }] } });
      }
      return { type: "card", payment_method_id: result.paymentMethod.id };
    }
    const chosen = form.querySelector("input[name=test_card]:checked");
    if (!chosen) throw new ApiError(422, { error: { code: "required", message: "Choose a card.", fields: [{ path: ["payment_method_id"], message: "Choose a card." }] } });
    return { type: "card", payment_method_id: chosen.value };
  },

  describe(method) {
    if (!method) return "";
    if (method.brand && method.last4) return `${method.brand.toUpperCase()} ending ${method.last4}`;
    return TEST_CARDS[method.payment_method_id] || "Card";
  },

  // After CONFIRM_ORDER (payment_processing): pay, then let the server finalize.
  // Stripe: Stripe.js confirms the card with the intent's client secret (3-D Secure in
  // its own dialog); sandbox: the server confirms with the chosen test card.
  async afterConfirm(view) {
    if (await usesStripe()) {
      const intent = await api.post("/api/payment/create-intent", { checkout_id: view.id });
      if (intent.status === "requires_payment_method" || intent.status === "requires_confirmation" || intent.status === "requires_action") {
        const stripe = await loadStripe(intent.publishable_key || (await config()).publishable_key);
        await stripe.confirmCardPayment(intent.client_secret, card ? { payment_method: { card } } : undefined);
      }
    }
    return api.post("/api/payment/confirm", { checkout_id: view.id });
  },

  // payment_requires_action (after a reload, or the sandbox): the bank's challenge.
  async challenge(root, checkout, { done }) {
    if (await usesStripe()) {
      root.querySelector("[data-stripe-challenge]").hidden = false;
      const intent = await api.post("/api/payment/create-intent", { checkout_id: checkout.id });
      const stripe = await loadStripe(intent.publishable_key || (await config()).publishable_key);
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
