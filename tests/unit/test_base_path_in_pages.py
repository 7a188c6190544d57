"""Every address the pages name follows the prefix tillpoint is served under (a host app's
mount, a proxy's root path): templates through ``{{ base }}``, scripts through ``withBase``
(tests/api/test_mount.py and tests/e2e/test_mounted_shop.py check it served)."""

from __future__ import annotations

import re
from pathlib import Path

WEB = Path(__file__).resolve().parents[2] / "src" / "tillpoint" / "web"
TEMPLATES = sorted([*WEB.glob("pages/templates/*.html"), *WEB.glob("admin_pages/templates/*.html")])
SCRIPTS = sorted([*WEB.glob("pages/static/js/*.js"), *WEB.glob("admin_pages/static/js/*.js")])
# href="/cart", src='/static/…', action="/api/…": a root-absolute address with no prefix.
BARE_IN_TEMPLATE = re.compile(r"""\b(?:href|src|action|content)=["']/(?!/)""")
# fetch("/api…"), new EventSource("/…"), new WebSocket("/…"), location.assign("/…"),
# x.href = "/…", { href: "/…" }, import … from "/…": navigation and loads that bypass
# withBase (api.get/post/… add it themselves).
BARE_IN_SCRIPT = re.compile(
    r"""(?:fetch\(|EventSource\(|WebSocket\(|location\.(?:assign|replace)\(|"""
    r"""\.href\s*=|\bhref:|\bfrom)\s*["'`]/(?!/)"""
)


def test_the_pages_exist() -> None:
    assert len(TEMPLATES) > 20 and len(SCRIPTS) > 20


def test_no_template_names_an_address_outside_the_base_path() -> None:
    bare = [
        f"{path.name}:{n}: {line.strip()}"
        for path in TEMPLATES
        for n, line in enumerate(path.read_text().splitlines(), start=1)
        if BARE_IN_TEMPLATE.search(line)
    ]
    assert bare == [], "prefix these with {{ base }}:\n" + "\n".join(bare)


def test_no_script_loads_or_opens_an_address_outside_the_base_path() -> None:
    bare = [
        f"{path.name}:{n}: {line.strip()}"
        for path in SCRIPTS
        for n, line in enumerate(path.read_text().splitlines(), start=1)
        if BARE_IN_SCRIPT.search(line)
    ]
    assert bare == [], "wrap these in withBase() (or import relatively):\n" + "\n".join(bare)


def test_both_page_layouts_hand_the_base_path_to_the_scripts() -> None:
    for layout in ("pages/templates/base.html", "admin_pages/templates/admin_base.html"):
        assert 'data-base-path="{{ base }}"' in (WEB / layout).read_text(), layout
