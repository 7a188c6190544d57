// The catalog page: add to cart, the cart badge, live stock badges.
import { api, session } from "./api.js";
import { showCartCount } from "./cart_count.js";
import { announce, clearFieldErrors, reportError } from "./feedback.js";
import { drawBadges, levelOf, onStock, setLevel, watchStock } from "./stock.js";

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

// The badge and the Add button follow the chosen option's stock.
function refreshProduct(form) {
  const productId = form.dataset.productId;
  const variant = form.elements.variant_id ? form.elements.variant_id.value : "";
  const badge = document.querySelector(`[data-stock-for="${CSS.escape(productId)}"]`);
  if (badge) badge.dataset.variantId = variant;
  drawBadges(productId);
  const level = levelOf(productId, variant);
  form.querySelector("button[type=submit]").disabled = Boolean(level && !level.in_stock);
}

for (const form of forms) {
  const badge = document.querySelector(`[data-stock-for="${CSS.escape(form.dataset.productId)}"]`);
  // Levels drawn by the server: [{variant_id, available, in_stock}, ...].
  for (const sku of JSON.parse((badge && badge.dataset.levels) || "[]")) {
    setLevel(form.dataset.productId, sku.variant_id, { available: sku.available, in_stock: sku.in_stock });
  }
  if (form.elements.variant_id) form.elements.variant_id.addEventListener("change", () => refreshProduct(form));
  refreshProduct(form);
}

onStock((productId) => {
  const form = forms.find((f) => f.dataset.productId === productId);
  if (form) refreshProduct(form);
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
