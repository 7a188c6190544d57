"""Each feature is used through its public module: ``tillpoint/<feature>/public.py``.

A module outside feature F may import ``tillpoint.F.public`` and nothing else of F, so what
F offers is the list in that module's ``__all__``. The graph is grimp's, as import-linter
builds it (imports under ``TYPE_CHECKING`` left out, as in ``pyproject.toml``); the same rule
is import-linter's "public" contract. The surface stays small: each name a public module
offers is used outside its feature.
"""

from __future__ import annotations

import ast
import importlib
from collections import defaultdict
from pathlib import Path

import grimp
import pytest

import tillpoint

ROOT = Path(tillpoint.__file__).parent

FEATURES = (
    "addresses", "auth", "cart", "catalog", "checkout", "inventory", "orders", "payments",
    "pricing", "promotions", "shipping", "tax", "webhooks", "api_keys", "checkout_sessions",
)  # fmt: skip
# Not features: core (no public module; any layer above may use them) and entry points.
CORE = ("audit", "mail", "outbox", "security")
ENTRY_POINTS = ("web", "migrations")
# Shipped for the shops' own servers; imports nothing of the rest (import-linter "client").
LIBRARIES = ("client",)

# (importer, the inner module's last name) -> why it may reach past the public module.
ALLOWED = {
    ("tillpoint.models", "models"): "Alembic's all-tables import: every table, public or not",
}


def _feature_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in FEATURES else None


def _reaching_in(graph: grimp.ImportGraph) -> list[str]:
    """Imports of a feature's non-public module from outside that feature."""
    found = []
    for imported in sorted(graph.modules):
        feature = _feature_of(imported)
        if feature is None or imported == f"tillpoint.{feature}.public":
            continue
        for importer in sorted(graph.find_modules_that_directly_import(imported)):
            if _feature_of(importer) == feature:
                continue
            if (importer, imported.rsplit(".", 1)[-1]) in ALLOWED:
                continue
            lines = [d["line_number"] for d in graph.get_import_details(
                importer=importer, imported=imported)]  # fmt: skip
            found.append(f"{importer}:{','.join(map(str, lines))} imports {imported}")
    return found


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("tillpoint", exclude_type_checking_imports=True, cache_dir=None)


def test_other_packages_import_features_through_their_public_module(
    graph: grimp.ImportGraph,
) -> None:
    assert _reaching_in(graph) == []


def test_every_package_is_a_feature_core_or_an_entry_point() -> None:
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")}
    assert packages == set(FEATURES) | set(CORE) | set(ENTRY_POINTS) | set(LIBRARIES)


@pytest.mark.parametrize("feature", FEATURES)
def test_each_feature_lists_what_it_offers(feature: str) -> None:
    public = importlib.import_module(f"tillpoint.{feature}.public")
    offered = public.__all__
    assert offered, f"tillpoint/{feature}/public.py lists nothing in __all__"
    assert [name for name in offered if not hasattr(public, name)] == []
    assert [name for name in offered if name.startswith("_")] == []


def _used_outside() -> dict[str, set[str]]:
    """Per feature, the public names other packages import or read (``public.name``)."""
    used: dict[str, set[str]] = defaultdict(set)
    for path in ROOT.rglob("*.py"):
        owner = path.relative_to(ROOT).parts[0].removesuffix(".py")
        tree = ast.parse(path.read_text())
        aliases: dict[str, str] = {}  # ``from tillpoint.F import public as x``: x -> F
        for node in ast.walk(tree):
            feature = _feature_of(node.module or "") if isinstance(node, ast.ImportFrom) else None
            if not isinstance(node, ast.ImportFrom) or feature in (None, owner):
                continue
            if node.module == f"tillpoint.{feature}.public":
                used[feature].update(a.name for a in node.names)
            elif node.module == f"tillpoint.{feature}":
                aliases.update({a.asname or a.name: feature for a in node.names})
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and getattr(node.value, "id", None) in aliases:
                used[aliases[node.value.id]].add(node.attr)  # type: ignore[attr-defined]
    return used


def test_each_offered_name_is_used_outside_its_feature() -> None:
    used = _used_outside()
    unused = {
        feature: sorted(set(importlib.import_module(f"tillpoint.{feature}.public").__all__)
                        - used[feature])
        for feature in FEATURES
    }  # fmt: skip
    assert {feature: names for feature, names in unused.items() if names} == {}


def test_the_check_finds_a_module_reaching_past_the_public_one() -> None:
    graph = grimp.ImportGraph()
    for module in ("tillpoint.web.routers.cart", "tillpoint.cart.service",
                   "tillpoint.cart.public", "tillpoint.checkout.service", "tillpoint.models",
                   "tillpoint.cart.models"):  # fmt: skip
        graph.add_module(module)
    # Allowed: through the public module, within the feature, the all-tables import.
    graph.add_import(importer="tillpoint.web.routers.cart", imported="tillpoint.cart.public")
    graph.add_import(importer="tillpoint.cart.public", imported="tillpoint.cart.service")
    graph.add_import(importer="tillpoint.models", imported="tillpoint.cart.models")
    assert _reaching_in(graph) == []

    for importer, imported, line in (
        ("tillpoint.checkout.service", "tillpoint.cart.service", 7),
        ("tillpoint.web.routers.cart", "tillpoint.cart.models", 3),
    ):
        graph.add_import(
            importer=importer, imported=imported, line_number=line, line_contents="from ..."
        )
    assert _reaching_in(graph) == [
        "tillpoint.web.routers.cart:3 imports tillpoint.cart.models",
        "tillpoint.checkout.service:7 imports tillpoint.cart.service",
    ]
