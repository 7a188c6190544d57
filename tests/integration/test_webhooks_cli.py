"""``tillpoint webhooks add | list | rotate | deliveries | remove``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tillpoint.cli import app
from tillpoint.migrate import upgrade


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    upgrade(url)
    monkeypatch.setenv("TILLPOINT_DATABASE_URL", url)
    monkeypatch.setenv("TILLPOINT_SECRET_KEY", "cli-test-secret-key-long-enough-0123456789")
    monkeypatch.delenv("TILLPOINT_REDIS_URL", raising=False)


def test_add_list_rotate_deliveries_remove(cli_env: None) -> None:
    runner = CliRunner()
    r = runner.invoke(
        app,
        ["webhooks", "add", "http://127.0.0.1:9/hooks", "--event", "order.paid",
         "--event", "inventory.low_stock", "--description", "ERP"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    made = json.loads(r.stdout)
    assert made["events"] == ["inventory.low_stock", "order.paid"]
    assert made["secret"].startswith("whsec_")
    r = runner.invoke(app, ["webhooks", "list"])
    (listed,) = json.loads(r.stdout)
    assert listed["id"] == made["id"] and "secret" not in listed
    r = runner.invoke(app, ["webhooks", "rotate", made["id"]])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["secret"] not in ("", made["secret"])
    r = runner.invoke(app, ["webhooks", "deliveries", made["id"]])
    assert r.exit_code == 0 and json.loads(r.stdout) == []
    r = runner.invoke(app, ["webhooks", "remove", made["id"]])
    assert r.exit_code == 0 and made["id"] in r.stdout
    assert json.loads(runner.invoke(app, ["webhooks", "list"]).stdout) == []


def test_refusals_exit_non_zero_with_the_reason(cli_env: None) -> None:
    runner = CliRunner()
    r = runner.invoke(app, ["webhooks", "add", "ftp://x/y", "--event", "order.paid"])
    assert r.exit_code == 1 and "invalid_webhook_url" in r.output
    r = runner.invoke(app, ["webhooks", "add", "http://127.0.0.1:9/", "--event", "order.shipped"])
    assert r.exit_code == 2 and "unknown event type 'order.shipped'" in r.output
    r = runner.invoke(app, ["webhooks", "remove", "whep_" + "a" * 22])
    assert r.exit_code == 1 and "webhook_endpoint_not_found" in r.output
    assert json.loads(runner.invoke(app, ["webhooks", "list"]).stdout) == []
