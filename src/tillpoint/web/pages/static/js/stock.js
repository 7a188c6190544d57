// Live stock badges: subscribe to the server's stock updates (WebSocket, else SSE) for
// the products on the page and keep every [data-stock-for] element (optionally narrowed to one
// variant by data-variant-id) current. Without a stream the badges show what the
// page was drawn with.
import { withBase } from "./api.js";

const LOW_STOCK = 5;

// productId -> Map(variantId or "" -> {available, in_stock})
const levels = new Map();
const listeners = new Set();

export function stockText(level) {
  if (!level.in_stock) return { level: "out", text: "Out of stock" };
  if (level.available === null || level.available === undefined) return { level: "in", text: "In stock" };
  if (level.available <= 0) return { level: "low", text: "Available on backorder" };
  if (level.available <= LOW_STOCK) return { level: "low", text: `Only ${level.available} left` };
  return { level: "in", text: "In stock" };
}

// The level of one variant, or of the whole product (summed) when variantId is empty.
export function levelOf(productId, variantId) {
  const skus = levels.get(productId);
  if (!skus || skus.size === 0) return null;
  if (variantId) return skus.get(variantId) || null;
  if (skus.has("")) return skus.get("");
  let available = 0;
  let inStock = false;
  for (const level of skus.values()) {
    available += Math.max(level.available || 0, 0);
    inStock = inStock || level.in_stock;
  }
  return { available, in_stock: inStock };
}

export function onStock(listener) {
  listeners.add(listener);
}

export function setLevel(productId, variantId, level) {
  if (!levels.has(productId)) levels.set(productId, new Map());
  levels.get(productId).set(variantId || "", level);
}

export function drawBadges(productId) {
  document.querySelectorAll(`[data-stock-for="${CSS.escape(productId)}"]`).forEach((el) => {
    const level = levelOf(productId, el.dataset.variantId || "");
    if (!level) return;
    const { level: kind, text } = stockText(level);
    if (el.dataset.level !== kind || el.textContent !== text) {
      el.dataset.level = kind;
      el.textContent = text;
    }
  });
}

// One SSE "stock" event: {product_id, skus: [{sku, variant_id, available, in_stock}]}.
function handle(data) {
  if (!data || typeof data.product_id !== "string" || !Array.isArray(data.skus)) return;
  for (const sku of data.skus) setLevel(data.product_id, sku.variant_id, { available: sku.available, in_stock: sku.in_stock });
  drawBadges(data.product_id);
  listeners.forEach((listener) => listener(data.product_id));
}

let source = null; // the WebSocket or EventSource in use
let generation = 0; // bumped by each watchStock: a pending reconnect of an older one lapses

// WebSocket where the browser has it, the SSE stream where it has not or the socket fails.
export function watchStock(productIds) {
  const ids = [...new Set(productIds)].filter(Boolean).sort();
  generation += 1;
  if (source) { const old = source; source = null; old.close(); }
  if (!ids.length) return;
  if (typeof WebSocket === "undefined") watchEvents(ids);
  else watchSocket(ids, null);
}

function streamState(state, transport) {
  document.documentElement.dataset.stockStream = state;
  if (transport) document.documentElement.dataset.stockTransport = transport;
}

// The "inventory-updates" channel of /api/inventory/ws. A socket that never subscribed
// hands over to SSE; one that did reconnects after a second, resuming where it was.
function watchSocket(ids, lastId) {
  const scheme = location.protocol === "https:" ? "wss://" : "ws://";
  let socket;
  try { socket = new WebSocket(scheme + location.host + withBase("/api/inventory/ws")); } catch (err) { watchEvents(ids); return; }
  source = socket;
  let subscribed = false;
  const mine = generation;
  socket.addEventListener("open", () => {
    socket.send(JSON.stringify({ type: "subscribe", channel: "inventory-updates", product_ids: ids, last_event_id: lastId }));
  });
  socket.addEventListener("message", (event) => {
    let message;
    try { message = JSON.parse(event.data); } catch (err) { return; }
    if (message.type === "subscribed") { subscribed = true; streamState("open", "websocket"); }
    else if (message.type === "stock") { lastId = message.id; handle(message.data); }
    else if (message.type === "error" && !subscribed) { source = null; socket.close(); streamState("unavailable"); }
  });
  socket.addEventListener("close", () => {
    if (source !== socket) return; // replaced, or given up
    source = null;
    if (subscribed) setTimeout(() => { if (generation === mine && !source) watchSocket(ids, lastId); }, 1000);
    else watchEvents(ids);
  });
}

function watchEvents(ids) {
  if (typeof EventSource === "undefined") return;
  const url = "/api/inventory/stream?product_ids=" + encodeURIComponent(ids.join(","));
  let opened = false;
  const events = new EventSource(withBase(url));
  source = events;
  events.addEventListener("open", () => { opened = true; streamState("open", "sse"); });
  events.addEventListener("stock", (event) => {
    try { handle(JSON.parse(event.data)); } catch (err) { /* a malformed event changes nothing */ }
  });
  events.addEventListener("error", () => {
    // Never opened: the server has no stream; stop instead of retrying forever.
    if (!opened && source === events) { source = null; events.close(); streamState("unavailable"); }
  });
}
