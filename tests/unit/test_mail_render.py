"""Emails from templates: every kind renders both parts; shops override by file name."""

from __future__ import annotations

from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path

import pytest
from pydantic import ValidationError

from tillpoint.config import Settings
from tillpoint.mail.kinds import (
    BackInStock,
    EmailDiscount,
    EmailKind,
    EmailLine,
    OrderConfirmation,
    PasswordReset,
    PostalAddress,
)
from tillpoint.mail.render import render_email, template_names
from tillpoint.mail.samples import sample
from tillpoint.outbox.service import Message, build_email

SETTINGS = Settings(shop_name="Acme Goods", shop_address="1 Main St\\nSpringfield 12345")


@pytest.mark.parametrize("kind", list(EmailKind))
def test_every_kind_renders_subject_text_and_html(kind: EmailKind) -> None:
    email = render_email(sample(kind, SETTINGS), SETTINGS)
    assert email.kind is kind
    assert email.subject and "\n" not in email.subject
    for part in (email.text, email.html):
        assert "Acme Goods" in part and "Springfield 12345" in part
    assert email.html.lstrip().startswith("<!doctype html>")
    assert "<" not in email.text  # the text part is plain text, not markup


def _confirmation(currency: str = "USD", **over: object) -> OrderConfirmation:
    fields: dict[str, object] = {
        "number": "TP-1",
        "currency": currency,
        "lines": (EmailLine("<b>Mug</b>", 2, 61728, 123456),),
        "discounts": (EmailDiscount("WELCOME10", 250), EmailDiscount("SPRING", 100)),
        "subtotal": 123456,
        "shipping": 500,
        "tax": 1000,
        "total": 124606,
        "order_url": "https://shop.example/orders/ord_1?token=t0k",
        "shipping_address": PostalAddress(("Ada Lovelace", "12 Example St")),
    }
    fields.update(over)
    return OrderConfirmation(**fields)  # type: ignore[arg-type]


def test_confirmation_shows_each_amount_and_each_coupon_in_the_orders_currency() -> None:
    email = render_email(_confirmation(), SETTINGS)
    assert email.subject == "Order TP-1 confirmed — $1,246.06"
    for part in (email.text, email.html):
        assert "$1,234.56" in part and "$617.28" in part  # line amount, unit price
        assert "WELCOME10" in part and "\u2212$2.50" in part
        assert "SPRING" in part and "\u2212$1.00" in part
        assert "$5.00" in part and "$10.00" in part and "$1,246.06" in part
        assert "Ada Lovelace" in part
        assert "https://shop.example/orders/ord_1?token=t0k" in part


def test_amounts_follow_the_locale_and_currency() -> None:
    email = render_email(_confirmation("EUR"), SETTINGS, locale="de_DE")
    assert "1.246,06\u00a0€" in email.text and "1.246,06\u00a0€" in email.html
    yen = render_email(
        _confirmation("JPY", lines=(EmailLine("Tea", 1, 1500, 1500),), discounts=(),
                      subtotal=1500, shipping=0, tax=0, total=1500),
        SETTINGS,
    )  # fmt: skip
    assert "¥1,500" in yen.text and "¥1,500.00" not in yen.text


def test_html_escapes_what_the_shopper_or_catalog_wrote_and_text_does_not() -> None:
    email = render_email(_confirmation(), SETTINGS)
    assert "&lt;b&gt;Mug&lt;/b&gt;" in email.html and "<b>Mug</b>" not in email.html
    assert "<b>Mug</b>" in email.text


def test_tax_included_prices_say_so_instead_of_adding_a_tax_line() -> None:
    email = render_email(_confirmation(tax_included=True, total=123606), SETTINGS)
    assert "includes $10.00 tax" in email.text
    assert "Tax: $10.00" not in email.text


def test_a_shop_overrides_a_template_by_file_name(tmp_path: Path) -> None:
    (tmp_path / "back_in_stock.subject.txt").write_text("Restocked at {{ shop.name }}!")
    settings = Settings(shop_name="Acme Goods", notification_templates_dir=tmp_path)
    email = render_email(BackInStock("Mug", "https://shop.example/"), settings)
    assert email.subject == "Restocked at Acme Goods!"
    assert "Mug" in email.text  # the parts not overridden are the built-in ones


def test_password_reset_names_its_link_and_lifetime() -> None:
    email = render_email(PasswordReset("https://shop.example/reset?token=abc", 30), SETTINGS)
    assert "https://shop.example/reset?token=abc" in email.text
    assert 'href="https://shop.example/reset?token=abc"' in email.html
    assert "30 minutes" in email.text


def test_multipart_message_carries_both_parts() -> None:
    email = render_email(_confirmation(), SETTINGS)
    mime = build_email(Message("order_confirmation", "a@example.com", email.payload()), "s@x.io")
    parsed = message_from_bytes(bytes(mime), policy=default_policy)
    assert isinstance(parsed, EmailMessage)
    assert parsed.get_content_type() == "multipart/alternative"
    text, html = parsed.get_body(("plain",)), parsed.get_body(("html",))
    assert text is not None and "$1,246.06" in text.get_content()
    assert html is not None and "$1,246.06" in html.get_content()


def test_every_kind_has_its_three_templates() -> None:
    names = set(template_names())
    for kind in EmailKind:
        assert {f"{kind}.subject.txt", f"{kind}.txt", f"{kind}.html"} <= names


def test_shop_locale_must_be_one_babel_knows() -> None:
    with pytest.raises(ValidationError, match="shop_locale"):
        Settings(shop_locale="xx_YY")
    assert Settings(shop_locale="de-DE").shop_locale == "de_DE"


def test_a_subject_stays_one_header_line() -> None:
    email = render_email(
        BackInStock("Mug\r\nBcc: victim@example.com", "https://x.example/"), SETTINGS
    )
    assert "\n" not in email.subject and "\r" not in email.subject
    assert email.subject == "Back in stock: Mug Bcc: victim@example.com"
