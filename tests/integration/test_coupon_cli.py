"""``tillpoint coupon create``: one coupon or a batch of unique single-use codes."""

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


def test_create_one_then_a_batch(cli_env: None) -> None:
    runner = CliRunner()
    r = runner.invoke(
        app,
        ["coupon", "create", "--code", " welcome10 ", "--type", "percentage", "--value", "1000",
         "--end", "2030-01-01T00:00:00+00:00", "--usage-limit", "100"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    (made,) = json.loads(r.stdout)
    assert (made["code"], made["value"], made["usage_limit"]) == ("WELCOME10", 1000, 100)
    r = runner.invoke(
        app,
        ["coupon", "create", "--count", "25", "--prefix", "vip", "--type", "fixed_amount",
         "--value", "500"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    batch = json.loads(r.stdout)
    assert len({c["code"] for c in batch}) == 25
    assert all(c["code"].startswith("VIP-") and c["usage_limit"] == 1 for c in batch)


def test_refusals_exit_non_zero_with_the_reason(cli_env: None) -> None:
    runner = CliRunner()
    args = ["coupon", "create", "--code", "DUP", "--type", "percentage", "--value", "500"]
    assert runner.invoke(app, args).exit_code == 0
    r = runner.invoke(app, args)
    assert r.exit_code == 1 and "coupon_code_taken" in r.output
    r = runner.invoke(
        app, ["coupon", "create", "--code", "Z", "--type", "percentage", "--value", "0"]
    )
    assert r.exit_code == 1 and "value_out_of_range" not in r.output and "basis points" in r.output
    r = runner.invoke(app, ["coupon", "create", "--type", "percentage", "--value", "5"])
    assert r.exit_code == 2  # neither --code nor --count
