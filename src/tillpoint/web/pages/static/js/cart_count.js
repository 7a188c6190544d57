// The header's cart badge.
export function showCartCount(count) {
  document.querySelectorAll("[data-cart-count]").forEach((el) => {
    el.textContent = count > 0 ? String(count) : "";
    el.setAttribute("aria-label", `${count} ${count === 1 ? "item" : "items"} in cart`);
  });
}
