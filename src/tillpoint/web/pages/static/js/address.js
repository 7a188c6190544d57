// The address form: one fieldset per address, its fields, labels and region choices
// drawn from the country's rules (GET /api/addresses/rules/{country}).
import { api } from "./api.js";

const rulesCache = new Map();

function rulesFor(country) {
  if (!rulesCache.has(country)) {
    rulesCache.set(country, api.get(`/api/addresses/rules/${encodeURIComponent(country)}`).catch((err) => {
      rulesCache.delete(country);
      throw err;
    }));
  }
  return rulesCache.get(country);
}

const OPTIONAL = ["street2", "phone"];

// Builds the fieldset into `slot`; `prefix` keeps ids unique ("shipping", "billing").
export async function addressFieldset(slot, { prefix, legend, values, country }) {
  const node = document.getElementById("tpl-address").content.firstElementChild.cloneNode(true);
  node.querySelector("[data-legend]").textContent = legend;
  for (const input of node.querySelectorAll("[data-field]")) {
    const field = input.dataset.field;
    const variant = input.hasAttribute("data-state-select") ? "-select" : "";
    input.id = `${prefix}-${field}${variant}`;
    input.name = field;
    input.dataset.path = `address.${field}`;
    input.setAttribute("aria-describedby", `${prefix}-${field}-error`);
  }
  for (const label of node.querySelectorAll("label[data-for]")) label.htmlFor = `${prefix}-${label.dataset.for}`;
  for (const slotEl of node.querySelectorAll("[data-error-slot]")) {
    slotEl.id = `${prefix}-${slotEl.dataset.errorSlot}-error`;
    slotEl.dataset.errorFor = `address.${slotEl.dataset.errorSlot}`;
  }
  const hint = node.querySelector('[data-hint="zip_code"]');
  hint.id = `${prefix}-zip_code-hint`;
  node.querySelector('[data-field="zip_code"]').setAttribute("aria-describedby", `${prefix}-zip_code-error ${hint.id}`);
  const countrySelect = node.querySelector('select[data-field="country"]');
  const initial = (values && values.country) || country || "US";
  if ([...countrySelect.options].some((o) => o.value === initial)) countrySelect.value = initial;
  fill(node, values || {});
  await applyRules(node, countrySelect.value, prefix, values ? values.state : "");
  // Shown only once the country's rules are applied: until then the state's select and
  // text box were both visible (a slow rules answer let a shopper, or a test, see both).
  slot.replaceChildren(node);
  // Choosing the same country again keeps the region chosen.
  countrySelect.addEventListener("change", () => {
    if (node.dataset.country !== countrySelect.value) applyRules(node, countrySelect.value, prefix, "");
  });
  return node;
}

function fill(node, values) {
  for (const [field, value] of Object.entries(values)) {
    if (field === "state" || field === "country" || value == null) continue;
    const input = node.querySelector(`input[data-field="${field}"]`);
    if (input) input.value = value;
  }
}

async function applyRules(node, country, prefix, state) {
  const rules = await rulesFor(country);
  node.dataset.country = country;
  const shown = new Set([...rules.fields, "first_name", "last_name", "country", "phone"]);
  const required = new Set([...rules.required, "first_name", "last_name", "country"]);
  for (const field of ["street1", "street2", "city", "state", "zip_code"]) {
    const label = node.querySelector(`label[data-for="${field}"]`);
    const visible = shown.has(field);
    label.hidden = !visible;
    const text = rules.labels[field] || label.textContent;
    label.textContent = required.has(field) || OPTIONAL.includes(field) ? text : `${text} (optional)`;
  }
  const select = node.querySelector("[data-state-select]");
  const input = node.querySelector("[data-state-input]");
  const useSelect = shown.has("state") && rules.state_choices.length > 0;
  select.hidden = !useSelect;
  select.disabled = !useSelect;
  input.hidden = !shown.has("state") || useSelect;
  input.disabled = !shown.has("state") || useSelect;
  node.querySelector('label[data-for="state"]').htmlFor = `${prefix}-state${useSelect ? "-select" : ""}`;
  if (useSelect) {
    const placeholder = new Option(`Choose a ${rules.labels.state.toLowerCase()}`, "");
    select.replaceChildren(placeholder, ...rules.state_choices.map((c) => new Option(c.label, c.value)));
    select.value = rules.state_choices.some((c) => c.value === state) ? state : "";
  } else if (state) {
    input.value = state;
  }
  for (const el of node.querySelectorAll("input[data-field], select[data-field]")) {
    const field = el.dataset.field;
    if (field !== "state") {
      el.hidden = !shown.has(field);
      el.disabled = !shown.has(field);
    }
    el.required = !el.hidden && required.has(field);
    if (el.required) el.setAttribute("aria-required", "true");
    else el.removeAttribute("aria-required");
  }
  const hint = node.querySelector('[data-hint="zip_code"]');
  hint.hidden = !shown.has("zip_code") || !rules.postal_code_examples.length;
  hint.textContent = rules.postal_code_examples.length ? `For example ${rules.postal_code_examples[0]}` : "";
}

// The address as the API takes it: fields the country does not use are left out.
export function readAddress(node) {
  const address = { country: node.dataset.country };
  for (const el of node.querySelectorAll("input[data-field], select[data-field]")) {
    if (el.disabled || el.hidden) continue;
    const value = el.value.trim();
    if (el.dataset.field === "country") continue;
    if (value || !OPTIONAL.includes(el.dataset.field)) address[el.dataset.field] = value;
  }
  if (!address.phone) delete address.phone;
  if (!address.street2) delete address.street2;
  return address;
}

export function describeAddress(a) {
  if (!a) return "";
  return [
    `${a.first_name} ${a.last_name}`,
    a.street1,
    a.street2,
    [a.city, a.state, a.zip_code].filter(Boolean).join(" "),
    a.country,
  ].filter(Boolean).join(", ");
}
