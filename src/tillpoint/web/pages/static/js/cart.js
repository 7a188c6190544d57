// The cart page: lines with quantities and remove, coupons, live totals and stock.
import { api, money, session } from "./api.js";
import { showCartCount } from "./cart_count.js";
import { announce, clearFieldErrors, clearPageError, reportError, showPageError } from "./feedback.js";
import { drawBadges, levelOf, onStock, setLevel, watchStock } from "./stock.js";

const lines = document.getElementById("cart-lines");
const lineTemplate = document.getElementById("line-template");
const couponTemplate = document.getElementById("coupon-template");
const couponForm = document.getElementById("coupon-form");
const couponList = document.getElementById("applied-coupons");
const checkoutLink = document.getElementById("to-checkout");
let cart = null;

function render(next) {
  cart = next;
  document.querySelector("[data-cart-loading]").hidden = true;
  const empty = cart.items.length === 0;
  document.querySelector("[data-cart-empty]").hidden = !empty;
  document.querySelector("[data-cart-filled]").hidden = empty;
  showCartCount(cart.totals.item_count);
  renderLines();
  renderCoupons();
  renderTotals();
  watchStock(cart.items.map((i) => i.product_id));
  updateCheckoutLink();
}

function renderLines() {
  // Redrawing must not drop keyboard focus: remember which control of which line had it.
  const focused = document.activeElement;
  const focusedLine = focused && focused.closest ? focused.closest(".line") : null;
  const focusedId = focusedLine ? focusedLine.dataset.itemId : null;
  const focusedRole = focused && focused.dataset ? focused.dataset.role : null;
  lines.replaceChildren();
  for (const item of cart.items) {
    const node = lineTemplate.content.firstElementChild.cloneNode(true);
    node.dataset.itemId = item.id;
    node.dataset.productId = item.product_id;
    const name = item.name || "Unavailable item";
    const qtyId = `qty-${item.id}`;
    node.querySelector(".line-name").textContent = name;
    node.querySelector(".line-unit").textContent = `${money(item.unit_price, cart.currency)} each`;
    const badge = node.querySelector(".stock");
    badge.dataset.stockFor = item.product_id;
    badge.dataset.variantId = item.variant_id || "";
    const label = node.querySelector(".line-qty-label");
    label.htmlFor = qtyId;
    label.textContent = "Quantity";
    label.append(visuallyHidden(` of ${name}`));
    const qty = node.querySelector(".line-qty");
    qty.id = qtyId;
    qty.value = String(item.quantity);
    const error = node.querySelector("[data-error-for]");
    error.id = `err-${item.id}`;
    qty.setAttribute("aria-describedby", error.id);
    node.querySelector(".line-update").append(visuallyHidden(` quantity of ${name}`));
    node.querySelector(".line-remove").append(visuallyHidden(` ${name}`));
    node.querySelector(".line-total").textContent = `Line total ${money(item.line_total, cart.currency)}`;
    const notice = node.querySelector(".notice");
    notice.dataset.itemId = item.id;
    if (!item.available) {
      notice.hidden = false;
      notice.textContent = "This item is no longer available. Remove it to check out.";
    } else if (item.price_changed) {
      notice.hidden = false;
      notice.textContent = `The price is now ${money(item.current_unit_price, cart.currency)}.`;
    }
    const form = node.querySelector("form");
    form.addEventListener("submit", (e) => { e.preventDefault(); setQuantity(item, form); });
    qty.addEventListener("change", () => setQuantity(item, form));
    node.querySelector(".line-remove").addEventListener("click", () => removeLine(item));
    lockLine(node, item, qty);
    lines.append(node);
  }
  for (const item of cart.items) {
    // The cart answer carries each line's stock (when the shop tracks it).
    if (typeof item.in_stock === "boolean") {
      setLevel(item.product_id, item.variant_id, { available: item.available_quantity, in_stock: item.in_stock });
    }
    drawBadges(item.product_id);
  }
  stockNotices();
  if (focusedId && focusedRole) {
    const line = lines.querySelector(`[data-item-id="${CSS.escape(focusedId)}"]`);
    const target = line ? line.querySelector(`[data-role="${focusedRole}"]`) : null;
    if (target) target.focus();
  }
}

// A line the shop set through a checkout session: no remove, and a quantity only within
// the shop's bounds (the API refuses anything else: 409 cart_line_locked).
function lockLine(node, item, qty) {
  const lock = item.metadata && item.metadata.checkout_session;
  if (!lock) return;
  node.querySelector(".line-remove").hidden = true;
  qty.min = String(lock.min);
  qty.max = String(lock.max);
  if (lock.min === lock.max) {
    qty.readOnly = true;
    node.querySelector(".line-update").hidden = true;
  }
  if (couponForm && !lock.coupons) couponForm.hidden = true;
}

function visuallyHidden(text) {
  const span = document.createElement("span");
  span.className = "visually-hidden";
  span.textContent = text;
  return span;
}

function renderCoupons() {
  couponList.replaceChildren();
  for (const coupon of cart.coupons) {
    const node = couponTemplate.content.firstElementChild.cloneNode(true);
    const code = coupon.code || coupon.coupon_id;
    node.querySelector(".coupon-name").textContent = code;
    node.querySelector(".coupon-amount").textContent = `−${money(coupon.discount_amount, cart.currency)}`;
    const remove = node.querySelector(".coupon-remove");
    remove.append(visuallyHidden(` coupon ${code}`));
    remove.addEventListener("click", () => removeCoupon(coupon, code));
    couponList.append(node);
  }
}

function renderTotals() {
  const totals = cart.totals;
  document.querySelector('[data-total="subtotal"]').textContent = money(totals.subtotal, cart.currency);
  document.querySelector('[data-total="discount"]').textContent = `−${money(totals.discount, cart.currency)}`;
  document.querySelector("[data-discount-row]").hidden = !totals.discount;
  document.querySelector('[data-total="total"]').textContent = money(totals.total, cart.currency);
}

// A line wanting more than is left says so, next to its quantity.
function stockNotices() {
  for (const item of cart.items) {
    const notice = lines.querySelector(`.notice[data-item-id="${CSS.escape(item.id)}"]`);
    const level = levelOf(item.product_id, item.variant_id || "");
    if (!notice || !item.available || !level) continue;
    const short = !level.in_stock || (level.available !== null && level.available !== undefined && level.available > 0 && level.available < item.quantity);
    notice.hidden = !short;
    if (short) {
      notice.textContent = level.in_stock
        ? `Only ${level.available} left: lower the quantity to check out.`
        : "Out of stock: remove it to check out.";
    }
  }
}

function shortOfStock(item) {
  const level = levelOf(item.product_id, item.variant_id || "");
  if (!level) return false;
  return !level.in_stock || (level.available != null && level.available > 0 && level.available < item.quantity);
}

function updateCheckoutLink() {
  const blocked = cart.items.some((i) => !i.available || shortOfStock(i));
  checkoutLink.setAttribute("aria-disabled", blocked ? "true" : "false");
  checkoutLink.title = blocked ? "Remove unavailable items first" : "";
}

checkoutLink.addEventListener("click", (event) => {
  if (checkoutLink.getAttribute("aria-disabled") === "true") {
    event.preventDefault();
    showPageError("Some items are out of stock or unavailable. Remove them or lower the quantity to check out.");
  }
});

// Writes send the version we drew, so a change made in another tab is not overwritten.
async function write(action, onError) {
  clearPageError();
  try {
    render(await action());
    return true;
  } catch (err) {
    if (err.status === 412) {
      render(await api.get("/api/cart"));
      showPageError("Your cart changed in another window. We have refreshed it; please check it and try again.");
      return false;
    }
    if (err.code === "cart_locked") {
      // Paying for these items (in another tab): the order gets exactly what is being paid.
      render(await api.get("/api/cart"));
      showPageError("You are paying for these items in another window, so the cart cannot change right now. Finish or cancel that payment first; if it does not go through, you can change your cart again.");
      return false;
    }
    onError(err);
    return false;
  }
}

// Writes run one after another: Enter in a quantity fires both "change" and "submit",
// and each write must start from the version the previous one produced.
let queue = Promise.resolve();
function serially(task) {
  const run = queue.then(task, task);
  queue = run.catch(() => {});
  return run;
}

function setQuantity(line, form) {
  return serially(() => applyQuantity(line, form));
}

async function applyQuantity(line, form) {
  // A queued second trigger from a line that has been redrawn since is stale: drop it.
  const item = cart.items.find((i) => i.id === line.id);
  if (!item || !form.isConnected) return;
  clearFieldErrors(form);
  const input = form.elements.quantity;
  const quantity = Number.parseInt(input.value, 10);
  if (!Number.isInteger(quantity) || quantity < 0 || String(quantity) !== input.value.trim()) {
    reportError({ message: "Enter a whole number of 0 or more.", fields: [{ path: ["quantity"], message: "Enter a whole number of 0 or more." }] }, form);
    return;
  }
  if (quantity === item.quantity) return;
  const name = item.name || "the item";
  const ok = await write(
    () => api.patch(`/api/cart/items/${item.id}`, { quantity }, { ifMatch: cart.version }),
    // A refused quantity belongs next to its input even when the API names no field.
    (err) => reportError(err.fields.length || err.status === 0 ? err : { message: err.message, fields: [{ path: ["quantity"], message: err.message }] }, form),
  );
  if (ok) announce(quantity === 0 ? `Removed ${name}.` : `Quantity of ${name} is now ${quantity}. Total ${money(cart.totals.total, cart.currency)}.`);
}

function removeLine(item) {
  return serially(() => applyRemove(item));
}

async function applyRemove(item) {
  if (!cart.items.some((i) => i.id === item.id)) return;
  const index = cart.items.findIndex((i) => i.id === item.id);
  const ok = await write(
    () => api.delete(`/api/cart/items/${item.id}`, { ifMatch: cart.version }),
    (err) => reportError(err),
  );
  if (!ok) return;
  announce(`Removed ${item.name || "the item"}. Total ${money(cart.totals.total, cart.currency)}.`);
  // Keep keyboard users in place: the next line's remove button, or the heading.
  const buttons = lines.querySelectorAll(".line-remove");
  const next = buttons[Math.min(index, buttons.length - 1)];
  (next || document.querySelector("h1")).focus();
}

couponForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearFieldErrors(couponForm);
  document.getElementById("coupon-status").textContent = "";
  const code = couponForm.elements.code.value.trim();
  if (!code) {
    reportError({ message: "Enter a coupon code.", fields: [{ path: ["code"], message: "Enter a coupon code." }] }, couponForm);
    return;
  }
  const ok = await serially(() => write(
    () => api.post("/api/cart/coupons", { code }, { ifMatch: cart.version }),
    (err) => {
      const fields = err.fields.length ? err.fields : [{ path: ["code"], message: err.message }];
      reportError({ ...err, message: err.message, fields }, couponForm);
    },
  ));
  if (ok) {
    couponForm.elements.code.value = "";
    // The shop's spelling of the code, not the customer's typing.
    const applied = cart.coupons.find((c) => (c.code || "").toUpperCase() === code.toUpperCase()) || cart.coupons[cart.coupons.length - 1];
    const name = (applied && applied.code) || code;
    document.getElementById("coupon-status").textContent = `Coupon ${name} applied. You save ${money(cart.totals.discount, cart.currency)}.`;
  }
});

async function removeCoupon(coupon, code) {
  const ok = await serially(() => write(
    () => api.delete(`/api/cart/coupons/${coupon.coupon_id}`, { ifMatch: cart.version }),
    (err) => reportError(err),
  ));
  if (ok) {
    document.getElementById("coupon-status").textContent = `Coupon ${code} removed.`;
    announce(`Coupon ${code} removed. Total ${money(cart.totals.total, cart.currency)}.`);
    couponForm.elements.code.focus();
  }
}

onStock(() => {
  if (!cart) return;
  stockNotices();
  updateCheckoutLink();
});

async function start() {
  try {
    await session();
    render(await api.get("/api/cart"));
  } catch (err) {
    document.querySelector("[data-cart-loading]").hidden = true;
    reportError(err);
  }
  document.documentElement.dataset.ready = "true";
}

start();
