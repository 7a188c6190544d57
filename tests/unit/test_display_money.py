from tillpoint.web.pages.display import display_money


def test_amounts_read_as_the_browser_formats_them() -> None:
    assert display_money(1250, "USD") == "$12.50"
    assert display_money(123456789, "USD") == "$1,234,567.89"
    assert display_money(-5, "EUR") == "-€0.05"
    assert display_money(1500, "JPY") == "¥1,500"
    assert display_money(1234, "KWD") == "KWD\u00a01.234"
