// Live stock badges: subscribe to the server's SSE stock stream for the products on
// the page and keep every [data-stock-for] element current. Without the stream
// (an older server, or none configured) the badges simply stay empty.

const LOW_STOCK = 5;

export function stockText(available) {
  if (available <= 0) return { level: "out", text: "Out of stock" };
  if (available <= LOW_STOCK) return { level: "low", text: `Only ${available} left` };
  return { level: "in", text: "In stock" };
}

const listeners = new Set();
const latest = new Map();

export function onStock(listener) {
  listeners.add(listener);
  latest.forEach((available, productId) => listener(productId, available));
}

export function availableOf(productId) {
  return latest.has(productId) ? latest.get(productId) : null;
}

export function showStock(productId, available) {
  latest.set(productId, available);
  const { level, text } = stockText(available);
  document.querySelectorAll(`[data-stock-for="${CSS.escape(productId)}"]`).forEach((el) => {
    if (el.dataset.level !== level || el.textContent !== text) {
      el.dataset.level = level;
      el.textContent = text;
    }
  });
  listeners.forEach((listener) => listener(productId, available));
}

// Accepts one update or a snapshot of several: {product_id, available} items.
function handle(data) {
  const items = Array.isArray(data) ? data : Array.isArray(data.items) ? data.items : [data];
  for (const item of items) {
    if (!item || typeof item.product_id !== "string") continue;
    const available = Number.isInteger(item.available) ? item.available : item.quantity_available;
    if (Number.isInteger(available)) showStock(item.product_id, available);
  }
}

let source = null;

export function watchStock(productIds) {
  const ids = [...new Set(productIds)].filter(Boolean).sort();
  if (source) { source.close(); source = null; }
  if (!ids.length || typeof EventSource === "undefined") return;
  const url = "/api/inventory/stream?product_ids=" + encodeURIComponent(ids.join(","));
  let opened = false;
  source = new EventSource(url);
  source.addEventListener("open", () => { opened = true; document.documentElement.dataset.stockStream = "open"; });
  const onMessage = (event) => {
    try { handle(JSON.parse(event.data)); } catch (err) { /* a malformed event changes nothing */ }
  };
  source.addEventListener("message", onMessage);
  source.addEventListener("stock", onMessage);
  source.addEventListener("snapshot", onMessage);
  source.addEventListener("error", () => {
    // Never opened: the server has no stream; stop instead of retrying forever.
    if (!opened && source) { source.close(); source = null; document.documentElement.dataset.stockStream = "unavailable"; }
  });
}
