// One product: every field (images by address, tags, weight...), its variants, and its
// stock, set through PUT /api/admin/inventory/{product_id}.
import {
  announce, api, bindForm, clean, el, fieldError, handleAuth, moneyInput, parseMoney, ready,
  showPageError,
} from "./admin.js";

const root = document.getElementById("product");
const url = `/api/admin/products/${encodeURIComponent(root.dataset.productId)}`;
const edit = document.getElementById("edit-form");
const stockForm = document.getElementById("stock-form");
const statusLine = document.getElementById("action-status");
let product = null;

const stockText = (n) => (n === null || n === undefined ? "not tracked" : `${n} available`);

function said(message) {
  statusLine.textContent = message;
  statusLine.focus();
  announce(message);
}

function fillEdit(p) {
  const f = edit.elements;
  f.name.value = p.name; f.sku.value = p.sku; f.slug.value = p.slug || "";
  f.price.value = moneyInput(p.price, p.currency);
  f.compare_at_price.value = moneyInput(p.compare_at_price, p.currency);
  f.category.value = p.category || ""; f.tags.value = (p.tags || []).join(", ");
  f.weight_grams.value = p.weight_grams ?? ""; f.tax_category.value = p.tax_category || "";
  f.description.value = p.description || ""; f.images.value = (p.images || []).join("\n");
  f.active.checked = Boolean(p.active);
  const images = (p.images || []).filter((src) => /^https?:\/\//.test(src));
  document.getElementById("image-list").replaceChildren(...images.map((src, i) => thumbnail(p, src, i, images.length)));
}

// A picture with its address under it; one that does not load says so (a wrong address,
// or a host the image_origins setting does not allow).
function thumbnail(p, src, i, count) {
  const note = el("span", { className: "hint" }, clean(src));
  const img = el("img", { src, alt: `${clean(p.name)} (image ${i + 1} of ${count})`, width: "96", height: "96", loading: "lazy", decoding: "async" });
  img.addEventListener("error", () => { note.textContent = `${clean(src)} (could not be loaded)`; }, { once: true });
  return el("li", {}, img, note);
}

function moneyField(form, name, currency, required) {
  const raw = String(form.elements[name].value).trim();
  if (!raw) return required ? undefined : null;
  const value = parseMoney(raw, currency);
  if (value === null) fieldError(form, form.elements[name], "Enter an amount like 19.99.");
  return value;
}

function editBody() {
  const f = edit.elements;
  const weight = f.weight_grams.value.trim();
  if (weight && !/^\d+$/.test(weight)) fieldError(edit, f.weight_grams, "Enter the weight as a whole number of grams.");
  return {
    name: f.name.value.trim(), sku: f.sku.value.trim(), slug: f.slug.value.trim() || undefined,
    price: moneyField(edit, "price", product.currency, true),
    compare_at_price: moneyField(edit, "compare_at_price", product.currency, false),
    description: f.description.value.trim() || null,
    category: f.category.value.trim() || null,
    tags: f.tags.value.split(",").map((t) => t.trim()).filter(Boolean),
    weight_grams: weight && /^\d+$/.test(weight) ? Number.parseInt(weight, 10) : null,
    tax_category: f.tax_category.value.trim() || null,
    images: f.images.value.split("\n").map((u) => u.trim()).filter(Boolean),
    active: f.active.checked,
  };
}

function attributesText(attrs) {
  return Object.entries(attrs || {}).map(([k, v]) => `${k}=${v}`).join(", ");
}

function parseAttributes(form, input) {
  const out = {};
  for (const pair of input.value.split(",").map((p) => p.trim()).filter(Boolean)) {
    const at = pair.indexOf("=");
    if (at < 1) { fieldError(form, input, "Write attributes as name=value, separated by commas."); return null; }
    out[pair.slice(0, at).trim()] = pair.slice(at + 1).trim();
  }
  return out;
}

function input(id, name, label, value, extra = {}) {
  return [
    el("label", { for: id }, label),
    el("input", { id, name, value: value ?? "", "aria-describedby": `${id}-error`, ...extra }),
    el("p", { id: `${id}-error`, className: "field-error", dataset: { errorFor: name } }),
  ];
}

// Each variant is its own small form (PATCH .../variants/{id}).
function variantForm(v) {
  const id = `variant-${v.id}`;
  const form = el("form", { className: "panel", noValidate: true, dataset: { variantId: v.id } },
    el("h3", {}, clean(v.name), " ", el("span", { className: "hint" }, `— ${stockText(v.available)}`)),
    el("div", { className: "form-grid" },
      el("div", {}, ...input(`${id}-sku`, "sku", "SKU", v.sku, { required: true, maxlength: "64" })),
      el("div", {}, ...input(`${id}-name`, "name", "Name", v.name, { required: true, maxlength: "200" })),
      el("div", {}, ...input(`${id}-price`, "price", "Price (optional: the product's)", moneyInput(v.price, product.currency), { inputmode: "decimal" })),
      el("div", {}, ...input(`${id}-attributes`, "attributes", "Attributes (e.g. size=M)", attributesText(v.attributes))),
    ),
    el("label", { className: "choice" }, el("input", { type: "checkbox", name: "active", checked: Boolean(v.active) }), "On sale"),
    el("button", { type: "submit", className: "button secondary" }, `Save variant ${clean(v.name)}`),
  );
  bindForm(form, async () => {
    const attributes = parseAttributes(form, form.elements.attributes);
    const price = moneyField(form, "price", product.currency, false);
    const bad = form.querySelector("[aria-invalid=true]");
    if (bad) return bad.focus();
    await api.patch(`${url}/variants/${encodeURIComponent(v.id)}`, {
      sku: form.elements.sku.value.trim(), name: form.elements.name.value.trim(), price, attributes, active: form.elements.active.checked,
    });
    await reload();
    said(`Variant ${clean(form.elements.name.value)} saved.`);
  });
  return form;
}

function draw(p) {
  product = p;
  document.title = `${clean(p.name)} · admin`;
  document.getElementById("product-heading").textContent = clean(p.name);
  fillEdit(p);
  document.getElementById("stock-summary").textContent = `${clean(p.sku)}: ${stockText(p.available)}` +
    p.variants.map((v) => `; ${clean(v.name)} (${clean(v.sku)}): ${stockText(v.available)}`).join("");
  const target = stockForm.elements.variant_id;
  const chosen = target.value;
  target.replaceChildren(el("option", { value: "" }, `${clean(p.name)} (${clean(p.sku)})`),
    ...p.variants.map((v) => el("option", { value: v.id }, `${clean(v.name)} (${clean(v.sku)})`)));
  if ([...target.options].some((o) => o.value === chosen)) target.value = chosen;
  document.getElementById("variant-forms").replaceChildren(...(p.variants.length ? p.variants.map(variantForm) : [el("p", {}, "No variants.")]));
}

async function reload() {
  draw(await api.get(url));
}

bindForm(edit, async () => {
  const body = editBody();
  const bad = edit.querySelector("[aria-invalid=true]");
  if (bad) return bad.focus();
  draw(await api.patch(url, body));
  said(`Saved ${clean(product.name)}.`);
});

bindForm(stockForm, async (data) => {
  const raw = String(data.get("on_hand")).trim();
  if (!/^\d+$/.test(raw)) {
    fieldError(stockForm, stockForm.elements.on_hand, "Enter the stock as a whole number, 0 or more.");
    return stockForm.elements.on_hand.focus();
  }
  const variant = data.get("variant_id") || undefined;
  await api.put(`/api/admin/inventory/${encodeURIComponent(product.id)}`, { on_hand: Number.parseInt(raw, 10), reason: String(data.get("reason")).trim(), variant_id: variant });
  await reload();
  stockForm.elements.on_hand.value = "";
  said(`Stock set to ${raw}.`);
});

const variantNew = document.getElementById("variant-form");
bindForm(variantNew, async (data) => {
  const attributes = parseAttributes(variantNew, variantNew.elements.attributes);
  const price = moneyField(variantNew, "price", product.currency, false);
  const bad = variantNew.querySelector("[aria-invalid=true]");
  if (bad) return bad.focus();
  const made = await api.post(`${url}/variants`, { sku: String(data.get("sku")).trim(), name: String(data.get("name")).trim(), price, attributes });
  variantNew.reset();
  await reload();
  const form = document.querySelector(`form[data-variant-id="${CSS.escape(made.id)}"]`);
  said(`Variant ${clean(made.name)} added.`);
  if (form) form.querySelector("input").focus();
});

async function load() {
  try {
    await reload();
  } catch (err) {
    if (handleAuth(err)) return;
    root.querySelectorAll("form, section").forEach((n) => { n.hidden = true; });
    showPageError(err.status === 404 ? "There is no product with this id." : clean(err.message));
  } finally {
    root.removeAttribute("aria-busy");
  }
}
load().finally(ready);

