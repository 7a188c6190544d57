// The catalog page: add to cart, the cart badge, live stock badges.
import { api, session } from "./api.js";
import { showCartCount } from "./cart_count.js";
import { announce, clearFieldErrors, reportError } from "./feedback.js";
import { onStock, watchStock } from "./stock.js";

const forms = [...document.querySelectorAll("form.add-to-cart")];

async function addToCart(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const button = form.querySelector("button[type=submit]");
  clearFieldErrors(form);
  const quantity = Number.parseInt(form.elements.quantity.value, 10);
  if (!Number.isInteger(quantity) || quantity < 1) {
    reportError({ message: "Enter a quantity of at least 1.", fields: [{ path: ["quantity"], message: "Enter a quantity of at least 1." }] }, form);
    return;
  }
  const body = { product_id: form.dataset.productId, quantity };
  if (form.elements.variant_id) body.variant_id = form.elements.variant_id.value;
  button.disabled = true;
  try {
    const cart = await api.post("/api/cart/items", body);
    showCartCount(cart.totals.item_count);
    announce(`Added ${quantity} × ${form.dataset.productName} to your cart.`);
  } catch (err) {
    reportError(err, form);
  } finally {
    button.disabled = false;
  }
}

forms.forEach((form) => form.addEventListener("submit", addToCart));

onStock((productId, available) => {
  const form = forms.find((f) => f.dataset.productId === productId);
  if (!form) return;
  const button = form.querySelector("button[type=submit]");
  button.disabled = available <= 0;
});

async function start() {
  try {
    await session();
    const cart = await api.get("/api/cart");
    showCartCount(cart.totals.item_count);
  } catch (err) {
    reportError(err);
  }
  watchStock(forms.map((f) => f.dataset.productId));
  document.documentElement.dataset.ready = "true";
}

start();
