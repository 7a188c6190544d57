"""Production mode refuses to start without a real payment gateway: settings, the app, the
runtime and ``tillpoint serve`` all stop with a message naming the setting, and the offline
sandbox only ever runs outside production."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from tests.support import LIVE_PRODUCTION
from tillpoint.bootstrap import build_runtime
from tillpoint.config import Mode, Settings, UnsafeForProduction, load_settings
from tillpoint.db import Database
from tillpoint.payments.backends import build_gateway
from tillpoint.payments.sandbox import SandboxGateway
from tillpoint.payments.stripe_gateway import StripeGateway
from tillpoint.web.app import create_app

LIVE = LIVE_PRODUCTION
SECRET = LIVE["secret_key"]


def _refusal(**overrides: Any) -> str:
    with pytest.raises(ValidationError) as info:
        load_settings(**{**LIVE, **overrides})
    return str(info.value)


def test_production_with_a_live_stripe_account_starts_on_stripe() -> None:
    settings = load_settings(**LIVE)
    assert settings.uses_stripe
    assert isinstance(build_gateway(settings), StripeGateway)


@pytest.mark.parametrize("gateway", ["auto", "stripe"])
def test_production_without_a_stripe_key_is_refused_naming_the_setting(gateway: str) -> None:
    message = _refusal(stripe_secret_key=None, payment_gateway=gateway)
    assert "TILLPOINT_STRIPE_SECRET_KEY is required in production mode" in message


def test_the_sandbox_is_refused_in_production_even_when_asked_for() -> None:
    message = _refusal(payment_gateway="sandbox")
    assert "TILLPOINT_PAYMENT_GATEWAY=sandbox" in message and "no money" in message


@pytest.mark.parametrize(
    ("overrides", "setting"),
    [
        ({"stripe_secret_key": "sk_test_12345"}, "TILLPOINT_STRIPE_SECRET_KEY"),
        ({"stripe_secret_key": "rk_test_12345"}, "TILLPOINT_STRIPE_SECRET_KEY"),
        ({"stripe_fallback_secret_key": "sk_test_67890"}, "TILLPOINT_STRIPE_FALLBACK_SECRET_KEY"),
        ({"stripe_api_base": "http://127.0.0.1:8420"}, "TILLPOINT_STRIPE_API_BASE"),
        ({"stripe_webhook_secret": None}, "TILLPOINT_STRIPE_WEBHOOK_SECRET"),
    ],
)
def test_stripe_that_takes_no_money_or_hears_nothing_is_refused_in_production(
    overrides: dict[str, Any], setting: str
) -> None:
    assert setting in _refusal(**overrides)


@pytest.mark.parametrize("mode", ["development", "test"])
def test_outside_production_no_key_means_the_offline_sandbox(mode: str, tmp_path: Path) -> None:
    settings = load_settings(mode=mode, secret_key_file=tmp_path / "secret")
    assert not settings.uses_stripe
    assert isinstance(build_gateway(settings), SandboxGateway)


def _unchecked_production(tmp_path: Path) -> Settings:
    """Settings turned into production after validation (``model_copy`` skips it), as a
    caller that builds the runtime by hand might."""
    return load_settings(
        secret_key=SECRET,
        public_base_url=LIVE["public_base_url"],
        database_url=f"sqlite+aiosqlite:///{tmp_path}/x.db",
    ).model_copy(update={"mode": Mode.production})


def test_the_gateway_the_app_and_the_runtime_refuse_unchecked_production_settings(
    tmp_path: Path,
) -> None:
    settings = _unchecked_production(tmp_path)
    for start in (
        lambda: build_gateway(settings),
        lambda: create_app(settings),
        lambda: build_runtime(settings, connections=(Database(settings.database_url), None)),
    ):
        with pytest.raises(UnsafeForProduction) as info:
            start()
        assert "TILLPOINT_STRIPE_SECRET_KEY" in str(info.value)


def test_the_app_refuses_a_sandbox_handed_to_it_in_production() -> None:
    settings = load_settings(**LIVE)
    with pytest.raises(UnsafeForProduction) as info:
        create_app(settings, gateway=SandboxGateway("whsec_handed_in"))
    assert "sandbox" in str(info.value)


def test_serve_in_production_without_a_gateway_exits_with_the_setting_named(
    tmp_path: Path,
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TILLPOINT_") or "TEST" in k}
    env.update(
        TILLPOINT_MODE="production",
        TILLPOINT_SECRET_KEY=SECRET,
        TILLPOINT_PUBLIC_BASE_URL=LIVE["public_base_url"],
        TILLPOINT_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'shop.db'}",
    )
    # Run where no .env file can supply settings; a server that started would time out.
    done = subprocess.run(
        [sys.executable, "-m", "tillpoint", "serve", "--port", "1"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "TILLPOINT_STRIPE_SECRET_KEY is required in production mode" in done.stderr
    assert "Traceback" not in done.stderr
