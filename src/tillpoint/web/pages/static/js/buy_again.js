// "Buy again": an order's lines back into the cart (POST /api/orders/{id}/buy-again),
// told in words: what was added, and what could not be and why.
import { api, withBase } from "./api.js";
import { showCartCount } from "./cart_count.js";

function itemWord(count) {
  return `${count} ${count === 1 ? "item" : "items"}`;
}

export function describeBuyAgain(result) {
  const parts = [];
  const added = result.added.reduce((sum, line) => sum + line.quantity, 0);
  if (added) parts.push(`Added ${itemWord(added)} to your cart.`);
  if (result.not_added.length) {
    const refused = result.not_added.map((line) => `${line.name} (${line.reason.replace(/\.$/, "")})`).join("; ");
    parts.push(`Could not add: ${refused}.`);
  }
  return parts.join(" ") || "Nothing from this order could be added.";
}

// Runs buy-again for one order and writes the outcome, with a link to the cart, into `status`.
export async function buyAgain(orderId, status) {
  const result = await api.post(`/api/orders/${encodeURIComponent(orderId)}/buy-again`);
  status.replaceChildren(describeBuyAgain(result));
  if (result.added.length) {
    const link = document.createElement("a");
    link.href = withBase("/cart");
    link.textContent = "Go to your cart";
    status.append(" ", link);
  }
  try {
    const cart = await api.get("/api/cart");
    showCartCount(cart.totals.item_count);
  } catch (err) {
    // The badge is a nicety; the outcome above is what the shopper needs.
  }
  return result;
}
