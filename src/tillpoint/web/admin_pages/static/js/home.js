// Today at a glance: GET /api/admin/orders/stats. A server without that route (404)
// shows "—" and says so; any other failure is an error.
import { api, clean, el, handleAuth, money, ready, showPageError, withBase } from "./admin.js";

const box = document.getElementById("stats");
const slot = (name) => box.querySelector(`[data-stat="${name}"]`);

function revenue(list) {
  if (!list || !list.length) return money(0, document.documentElement.dataset.currency || "USD");
  return list.map((r) => money(r.amount, r.currency)).join(" + ");
}

function unavailable() {
  slot("orders").textContent = "—";
  slot("revenue").textContent = "—";
  slot("awaiting").replaceChildren("—");
  document.getElementById("stats-note").hidden = false;
}

async function load() {
  try {
    const stats = await api.get("/api/admin/orders/stats");
    slot("orders").textContent = clean(stats.today.orders);
    slot("revenue").textContent = revenue(stats.today.revenue);
    slot("awaiting").replaceChildren(el("a", { href: withBase("/admin/orders?fulfillment_status=unfulfilled") }, clean(stats.awaiting_fulfillment)));
  } catch (err) {
    if (err.status === 404) unavailable();
    else if (!handleAuth(err)) {
      unavailable();
      showPageError(clean(err.message));
    }
  } finally {
    box.removeAttribute("aria-busy");
  }
}

load().finally(ready);
