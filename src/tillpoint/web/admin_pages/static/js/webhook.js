// One webhook endpoint and its delivery log, newest first, paged.
import { api, cell, clean, el, handleAuth, pagedList, ready, showPageError, statusBadge, when, query } from "./admin.js";

const root = document.getElementById("endpoint");
const url = `/api/admin/webhook-endpoints/${encodeURIComponent(root.dataset.endpointId)}`;
const TONES = { delivered: "good", failed: "bad", pending: "wait" };

function row(d) {
  return el("tr", {},
    cell("Event", el("code", {}, clean(d.event_type)), el("span", { className: "hint" }, ` ${clean(d.event_id)}`)),
    cell("Status", statusBadge(d.status, TONES[d.status])),
    el("td", { className: "num", dataset: { label: "Attempts" } }, String(d.attempts)),
    cell("Last answer", d.last_status_code ? `HTTP ${d.last_status_code}` : "", d.last_error ? ` ${clean(d.last_error)}` : "", !d.last_status_code && !d.last_error ? "—" : ""),
    cell("Created", when(d.created_at)),
    cell("Next try / delivered", d.delivered_at ? `delivered ${when(d.delivered_at)}` : d.next_attempt_at ? `next try ${when(d.next_attempt_at)}` : "—"),
  );
}

async function load() {
  try {
    const e = await api.get(url);
    document.getElementById("endpoint-heading").textContent = clean(e.url);
    const facts = [["Events", e.events.map(clean).join(", ")], ["Status", e.active ? "active" : "disabled"], ["Description", clean(e.description || "—")], ["Added", when(e.created_at)]];
    document.getElementById("endpoint-facts").replaceChildren(...facts.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
    const list = pagedList({
      table: document.getElementById("delivery-table"),
      more: document.querySelector("[data-more]"),
      empty: document.querySelector("[data-empty]"),
      load: (cursor) => api.get(`${url}/deliveries${query({ cursor, limit: 50 })}`),
      draw: row,
    });
    await list.reload();
  } catch (err) {
    if (handleAuth(err)) return;
    root.querySelectorAll("section").forEach((s) => { s.hidden = true; });
    showPageError(err.status === 404 ? "There is no webhook endpoint with this id." : clean(err.message));
  } finally {
    root.removeAttribute("aria-busy");
  }
}
load().finally(ready);
