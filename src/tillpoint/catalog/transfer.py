"""Catalog files: export to CSV or JSON, import (upsert by SKU) with a row-by-row report.

CSV has one row per product and one per variant (``parent_sku`` names its product); a
product's variants in the file are exactly its active ones. Lists: ``images`` separated by
spaces, ``tags`` by ``|``; ``metadata`` and ``attributes`` are JSON objects. JSON is a
list of product objects as the admin API takes them. The format is in docs/catalog.md."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tillpoint.audit.service import SYSTEM, Actor
from tillpoint.catalog.admin import (
    PRODUCT_FIELDS,
    VARIANT_FIELDS,
    ProductDraft,
    VariantDraft,
    all_products,
    draft_of,
    upsert_in,
)
from tillpoint.errors import FieldError, InvalidInput, TillpointError
from tillpoint.runtime import Runtime

COLUMNS = (
    "sku", "parent_sku", "name", "slug", "description", "price", "currency",
    "compare_at_price", "images", "category", "tags", "weight_grams", "tax_category",
    "active", "metadata", "attributes", "position",
)  # fmt: skip
_VARIANT_COLUMNS = {"sku", "parent_sku", "name", "price", "compare_at_price", "weight_grams",
                    "active", "attributes", "position"}  # fmt: skip
_INTS = {"price", "compare_at_price", "weight_grams", "position"}
_NULLABLE_INTS = {"compare_at_price"}
_VARIANT_NULLABLE = {"price", "compare_at_price", "weight_grams", "position"}


@dataclass(frozen=True, slots=True)
class ImportRow:
    """One product of a file: its draft (or None if unreadable), problems found reading
    it, and where it stands (``line``; ``variant_lines``: its variants' rows in a CSV)."""

    line: int
    draft: ProductDraft | None
    errors: tuple[FieldError, ...] = ()
    variant_lines: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class RowProblem:
    row: int
    field: str
    code: str
    message: str


@dataclass(slots=True)
class ImportReport:
    """What an import did (or, dry or refused, would have done)."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    written: bool = False
    problems: list[RowProblem] = field(default_factory=list)


# --- export ---------------------------------------------------------------------------


def _json_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def _cell(value: int | None) -> str:
    return "" if value is None else str(value)


def _csv_rows(d: ProductDraft) -> list[dict[str, str]]:
    rows = [
        {
            "sku": d.sku, "parent_sku": "", "name": d.name, "slug": d.slug or "",
            "description": d.description, "price": str(d.price), "currency": d.currency or "",
            "compare_at_price": _cell(d.compare_at_price), "images": " ".join(d.images),
            "category": d.category, "tags": "|".join(d.tags),
            "weight_grams": str(d.weight_grams), "tax_category": d.tax_category,
            "active": "true" if d.active else "false",
            "metadata": _json_text(d.metadata) if d.metadata else "",
            "attributes": "", "position": "",
        }
    ]  # fmt: skip
    for v in d.variants or ():
        rows.append(
            {
                **dict.fromkeys(COLUMNS, ""),
                "sku": v.sku, "parent_sku": d.sku, "name": v.name, "price": _cell(v.price),
                "compare_at_price": _cell(v.compare_at_price),
                "weight_grams": _cell(v.weight_grams),
                "attributes": _json_text(v.attributes) if v.attributes else "",
                "position": _cell(v.position), "active": "true" if v.active else "false",
            }
        )  # fmt: skip
    return rows


def _json_product(d: ProductDraft) -> dict[str, Any]:
    out: dict[str, Any] = {k: getattr(d, k) for k in sorted(PRODUCT_FIELDS)}
    out["images"], out["tags"] = list(d.images), list(d.tags)
    out["variants"] = [{k: getattr(v, k) for k in sorted(VARIANT_FIELDS)} for v in d.variants or ()]
    return out


async def export_catalog(rt: Runtime, fmt: str) -> str:
    """Every product (active or not) with its variants, by SKU, as CSV or JSON text."""
    drafts = [draft_of(p) for p in await all_products(rt)]
    if fmt == "json":
        return json.dumps([_json_product(d) for d in drafts], ensure_ascii=False, indent=2) + "\n"
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for d in drafts:
        writer.writerows(_csv_rows(d))
    return buffer.getvalue()


# --- reading files --------------------------------------------------------------------

_TRUE, _FALSE = {"true", "yes", "1", "y"}, {"false", "no", "0", "n"}


class _Reader:
    """Typed values out of one record (CSV text or JSON values), noting what does not fit."""

    def __init__(self, raw: dict[str, Any], prefix: tuple[str | int, ...] = ()) -> None:
        self.raw, self.prefix = raw, prefix
        self.errors: list[FieldError] = []

    def fail(self, name: str, code: str, message: str) -> None:
        self.errors.append(FieldError((*self.prefix, name), code, message))

    def blank(self, name: str) -> bool:
        return self.raw.get(name) in (None, "")

    def text(self, name: str, default: str | None = None) -> str:
        value = self.raw.get(name)
        if value in (None, "") and default is not None:
            return default
        if not isinstance(value, str) or not value:
            self.fail(name, "required" if value in (None, "") else "not_text", "Give a text.")
            return ""
        return value

    def number(self, name: str) -> int | None:
        """A whole number, or None if blank (the caller decides whether blank is allowed)."""
        value = self.raw.get(name)
        if value in (None, ""):
            return None
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return int(value.strip())
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        self.fail(name, "not_a_whole_number", "A whole number (minor units for money).")
        return None

    def flag(self, name: str) -> bool:
        value = self.raw.get(name)
        if value in (None, ""):
            return True
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        self.fail(name, "not_a_boolean", "true or false.")
        return True

    def mapping(self, name: str) -> dict[str, Any]:
        value = self.raw.get(name)
        if value in (None, ""):
            return {}
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                value = None
        if not isinstance(value, dict):
            self.fail(name, "not_an_object", 'A JSON object, e.g. {"key": "value"}.')
            return {}
        return value

    def texts(self, name: str, sep: str | None) -> tuple[str, ...]:
        value = self.raw.get(name)
        if value in (None, ""):
            return ()
        if isinstance(value, str) and sep != "":  # "": lists only (JSON)
            return tuple(part for part in value.split(sep) if part)
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return tuple(value)
        self.fail(name, "not_a_list", "A list of texts.")
        return ()


def _variant(r: _Reader) -> VariantDraft:
    attributes = r.mapping("attributes")
    if not all(isinstance(v, str) for v in attributes.values()):
        r.fail("attributes", "not_text", "Attribute values are texts.")
        attributes = {}
    return VariantDraft(
        sku=r.text("sku"),
        name=r.text("name"),
        price=r.number("price"),
        compare_at_price=r.number("compare_at_price"),
        weight_grams=r.number("weight_grams"),
        attributes=attributes,
        position=r.number("position"),
        active=r.flag("active"),
    )


def _product(
    r: _Reader, variants: tuple[VariantDraft, ...] | None, csv_lists: bool
) -> ProductDraft:
    price = r.number("price")
    if price is None and r.blank("price"):
        r.fail("price", "required", "Give the price in minor units.")
    weight = r.number("weight_grams")
    return ProductDraft(
        sku=r.text("sku"),
        name=r.text("name"),
        price=price if price is not None else 0,
        currency=None if r.blank("currency") else r.text("currency"),
        slug=None if r.blank("slug") else r.text("slug"),
        description="" if r.blank("description") else r.text("description"),
        compare_at_price=r.number("compare_at_price"),
        images=r.texts("images", None if csv_lists else ""),
        category=r.text("category", "general"),
        tags=r.texts("tags", "|" if csv_lists else ""),
        weight_grams=weight if weight is not None else 0,
        tax_category=r.text("tax_category", "standard"),
        active=r.flag("active"),
        metadata=r.mapping("metadata"),
        variants=variants,
    )


def _unknown(raw: dict[str, Any], known: frozenset[str] | set[str]) -> list[FieldError]:
    return [
        FieldError((k,), "unknown_field", "Not a catalog field.") for k in raw if k not in known
    ]


def read_json(text: str) -> list[ImportRow]:
    """Rows of a JSON catalog (a list of products; ``row`` counts them from 1)."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise InvalidInput(f"Not JSON: {exc}", code="invalid_file") from None
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise InvalidInput("A JSON catalog is a list of product objects.", code="invalid_file")
    rows = []
    for n, item in enumerate(data, start=1):
        r = _Reader(item)
        errors = _unknown(item, PRODUCT_FIELDS | {"variants"})
        variants = None
        given = item.get("variants")
        if isinstance(given, list) and all(isinstance(v, dict) for v in given):
            readers = [_Reader(v, ("variants", i)) for i, v in enumerate(item["variants"])]
            variants = tuple(_variant(vr) for vr in readers)
            errors += [e for vr in readers for e in vr.errors]
        elif "variants" in item and item["variants"] is not None:
            errors.append(FieldError(("variants",), "not_a_list", "A list of variant objects."))
        draft = _product(r, variants, csv_lists=False)
        rows.append(ImportRow(n, draft, tuple(r.errors + errors)))
    return rows


def _csv_records(text: str) -> list[tuple[int, dict[str, str]]]:
    """(line number, record) for each data row; the header is line 1."""
    reader = csv.DictReader(io.StringIO(text.removeprefix("\ufeff")), restval="", strict=True)
    columns = set(reader.fieldnames or ())
    missing = {"sku", "name", "price"} - columns
    unknown = columns - set(COLUMNS)
    if missing or unknown:
        raise InvalidInput(
            f"CSV columns: missing {sorted(missing)}, unknown {sorted(unknown)}; "
            f"the columns are {', '.join(COLUMNS)}.",
            code="invalid_file",
        )
    try:
        return [(reader.line_num, dict(record)) for record in reader]
    except csv.Error as exc:
        raise InvalidInput(f"Not CSV: line {reader.line_num}: {exc}", code="invalid_file") from None


def read_csv(text: str) -> list[ImportRow]:
    """Rows of a CSV catalog: one per product, its variant rows (``parent_sku``) with it."""
    records = _csv_records(text)
    children: dict[str, list[tuple[int, dict[str, str]]]] = {}
    for line, rec in records:
        if rec.get("parent_sku"):
            children.setdefault(rec["parent_sku"].upper(), []).append((line, rec))
    rows: list[ImportRow] = []
    parents = set()
    for line, rec in records:
        if rec.get("parent_sku"):
            continue
        parents.add(rec["sku"].upper())
        kids = children.get(rec["sku"].upper(), [])
        readers = [_Reader(kid, ("variants", i)) for i, (_, kid) in enumerate(kids)]
        variants = tuple(_variant(vr) for vr in readers)
        errors = [e for vr in readers for e in vr.errors]
        for i, (_, kid) in enumerate(kids):
            extra = [k for k, v in kid.items() if v and k not in _VARIANT_COLUMNS]
            errors += [
                FieldError(("variants", i, k), "not_for_variants", _NOT_FOR_VARIANTS) for k in extra
            ]
        r = _Reader(rec)
        draft = _product(r, variants, csv_lists=True)
        rows.append(ImportRow(line, draft, tuple(r.errors + errors), tuple(n for n, _ in kids)))
    for sku, kids in children.items():
        if sku not in parents:
            for line, _ in kids:
                problem = FieldError(
                    ("parent_sku",), "unknown_parent", "No product row has this SKU."
                )
                rows.append(ImportRow(line, None, (problem,)))
    return sorted(rows, key=lambda row: row.line)


_NOT_FOR_VARIANTS = "A product's column: leave it empty on a variant row."


def _where(row: ImportRow, path: tuple[str | int, ...]) -> tuple[int, str]:
    """The file row and field name an error path points at."""
    if len(path) >= 2 and path[0] == "variants" and isinstance(path[1], int) and row.variant_lines:
        line = row.variant_lines[path[1]] if path[1] < len(row.variant_lines) else row.line
        return line, ".".join(str(p) for p in path[2:]) or "sku"
    return row.line, ".".join(str(p) for p in path)


def _note(
    report: ImportReport, row: ImportRow, errors: list[FieldError] | tuple[FieldError, ...]
) -> None:
    report.failed += 1
    for e in errors:
        line, name = _where(row, e.path)
        report.problems.append(RowProblem(line, name, e.code, e.message))


class _Undo(Exception):
    """Raised to leave a unit of work without committing it."""


async def import_rows(
    rt: Runtime,
    rows: list[ImportRow],
    *,
    dry_run: bool = False,
    all_or_nothing: bool = False,
    actor: Actor = SYSTEM,
    progress: Callable[[int], None] = lambda n: None,
) -> ImportReport:
    """Upsert each row's product by SKU. Good rows are written unless ``dry_run`` (all
    checked, nothing written) or ``all_or_nothing`` with any bad row (nothing written)."""
    report = ImportReport()
    try:
        async with rt.db.transaction() as s:
            for n, row in enumerate(rows, start=1):
                if row.errors or row.draft is None:
                    _note(report, row, row.errors)
                else:
                    try:
                        _, outcome = await upsert_in(rt, s, row.draft, actor)
                        setattr(report, outcome, getattr(report, outcome) + 1)
                    except TillpointError as exc:  # refused before writing: s is still fine
                        _note(
                            report, row, exc.fields or [FieldError(("sku",), exc.code, exc.message)]
                        )
                progress(n)
            if dry_run or (all_or_nothing and report.failed):
                raise _Undo
            report.written = True
    except _Undo:
        pass
    return report
