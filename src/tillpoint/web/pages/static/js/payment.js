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
      // Stripe's stand-ins may not create one here: the card is then confirmed with
      // the PaymentIntent after the order is placed.
      const id = result && result.paymentMethod ? result.paymentMethod.id : "pm_card_element";
      return { type: "card", payment_method_id: id };
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

  // payment_requires_action: let the bank challenge the customer, then tell the server.
  async challenge(root, checkout, { completed, failed }) {
    const payment = checkout.context.payment || {};
    if (await usesStripe()) {
      root.querySelector("[data-stripe-challenge]").hidden = false;
      const stripe = await loadStripe((await config()).publishable_key);
      const result = await stripe.confirmCardPayment(payment.client_secret, card ? { payment_method: { card } } : undefined);
      if (result.error) return failed(result.error.message || "Authentication failed.");
      return completed();
    }
    const box = root.querySelector("[data-sandbox-challenge]");
    box.hidden = false;
    box.querySelectorAll("[data-challenge]").forEach((button) => {
      button.addEventListener("click", async () => {
        const success = button.dataset.challenge === "complete";
        box.querySelectorAll("button").forEach((b) => { b.disabled = true; });
        try {
          await api.post(`/api/payment/sandbox/authenticate`, { checkout_id: checkout.id, success });
        } catch (err) {
          box.querySelectorAll("button").forEach((b) => { b.disabled = false; });
          return failed(err.message);
        }
        return completed();
      });
    });
  },

  // After CONFIRM_ORDER: nothing to do in the browser unless Stripe wants the card now.
  async afterConfirm() {},
};
