"""`tillpoint email preview KIND`: a sample of each email written to a file."""

from __future__ import annotations

from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tillpoint.cli import app


@pytest.fixture(autouse=True)
def _shop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TILLPOINT_SHOP_NAME", "Acme Goods")
    monkeypatch.setenv("TILLPOINT_DEFAULT_CURRENCY", "EUR")


def test_preview_writes_the_html_text_or_whole_message(tmp_path: Path) -> None:
    runner = CliRunner()
    html = tmp_path / "confirmation.html"
    out = runner.invoke(app, ["email", "preview", "order_confirmation", "--out", str(html)])
    assert out.exit_code == 0, out.output
    assert "Order TP-2026-000123 confirmed — €1,360.26" in out.output
    assert "Acme Goods" in html.read_text() and "€1,234.56" in html.read_text()

    text = tmp_path / "reset.txt"
    out = runner.invoke(app, ["email", "preview", "password_reset", "--out", str(text)])
    assert out.exit_code == 0 and "account/reset?token=" in text.read_text()

    eml = tmp_path / "refund.eml"
    args = ["email", "preview", "refund_issued", "--out", str(eml), "--locale", "de_DE"]
    assert runner.invoke(app, args).exit_code == 0
    message = message_from_bytes(eml.read_bytes(), policy=default_policy)
    assert message["Subject"] == "Partial refund for order TP-2026-000123: 25,00\u00a0€"
    assert message.get_content_type() == "multipart/alternative"


def test_preview_refuses_an_unknown_kind_or_locale(tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["email", "preview", "newsletter"]).exit_code == 2
    bad = runner.invoke(
        app, ["email", "preview", "back_in_stock", "--locale", "xx_YY", "--out", "x.html"]
    )
    assert bad.exit_code == 2 and "not a locale Babel knows" in bad.output


def test_preview_of_the_owners_low_stock_email(tmp_path: Path) -> None:
    text = tmp_path / "low.txt"
    out = CliRunner().invoke(app, ["email", "preview", "low_stock", "--out", str(text)])
    assert out.exit_code == 0, out.output
    assert "Low stock: TOTE (3 left)" in out.output
    assert "3 available (your threshold is 5)" in text.read_text()
