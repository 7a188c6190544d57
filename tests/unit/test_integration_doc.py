"""docs/integration.md: its sequence picture is rendered from the current source."""

from __future__ import annotations

import html
import re
from pathlib import Path

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_the_sequence_svg_is_rendered_from_its_dot_source() -> None:
    source = (DOCS / "checkout-sessions-sequence.dot").read_text()
    svg = html.unescape((DOCS / "checkout-sessions-sequence.svg").read_text())
    labels = re.findall(r'(?:xlabel|label)="([^"]+)"', source)
    lines = [line for label in labels for line in label.split("\\n") if line.strip()]
    assert len(lines) > 15
    missing = [line for line in lines if f">{line}<" not in svg]
    assert missing == [], f"re-render the svg (see the .dot header): {missing}"


def test_the_guide_shows_the_picture_and_readme_links_the_guide() -> None:
    guide = (DOCS / "integration.md").read_text()
    assert "](checkout-sessions-sequence.svg)" in guide
    readme = (DOCS.parent / "README.md").read_text()
    assert "](docs/integration.md)" in readme
