"""The composition root (``tillpoint/bootstrap.py``) is the one place that decides what
runs: importing modules registers nothing, and a machine action without a handler stops
the runtime from being built."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tillpoint.bootstrap import ACTION_HANDLERS, build_runtime
from tillpoint.checkout import machine
from tillpoint.checkout.actions import ACTIONS
from tillpoint.checkout.effects import MissingHandlers
from tillpoint.config import load_settings

SRC = Path(__file__).resolve().parents[2] / "src"

# Imports every module of tillpoint, one at a time, in a fresh interpreter; after each, the
# module-level containers (dict, list, set) of the modules imported before it must be as
# they were: an import that fills another module's registry shows up here. Then builds a
# runtime and checks that building it fills no module-level container either.
_PROBE = textwrap.dedent(
    """
    import asyncio, importlib, json, pkgutil, sys
    import tillpoint

    # Entry points that act on import (run the CLI, build the ASGI app from the
    # environment) and Alembic's environment script are not library modules.
    SKIP = ("tillpoint.__main__", "tillpoint.web.asgi", "tillpoint.migrations")

    def containers():
        out = {}
        for name, module in list(sys.modules.items()):
            if name != "tillpoint" and not name.startswith("tillpoint."):
                continue
            for attr, value in list(vars(module).items()):
                if isinstance(value, (dict, list, set)):
                    out[name + "." + attr] = repr(value)
        return out

    names = sorted(
        info.name
        for info in pkgutil.walk_packages(tillpoint.__path__, "tillpoint.")
        if not info.name.startswith(SKIP)
    )
    changed = []
    for name in names:
        before = containers()
        importlib.import_module(name)
        after = containers()
        changed += [
            f"importing {name} changed {key}" for key in before if before[key] != after.get(key)
        ]
    from tillpoint.bootstrap import build_runtime
    from tillpoint.config import load_settings

    before = containers()
    settings = load_settings(database_url="sqlite+aiosqlite:///:memory:", redis_url=None)
    rt = build_runtime(settings)
    after = containers()
    changed += [f"building the runtime changed {k}" for k in before if before[k] != after.get(k)]
    asyncio.run(rt.close())
    print(json.dumps({"modules": len(names), "changed": changed, "actions": sorted(rt.actions)}))
    """
)


def test_importing_every_module_registers_nothing_until_the_root_builds_the_runtime() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE],
        capture_output=True,
        text=True,
        timeout=300,
        env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["modules"] > 100
    assert found["changed"] == []
    # What runs is on the runtime the root built, and only there.
    assert found["actions"] == sorted(ACTION_HANDLERS)


def test_every_action_the_machine_names_has_a_handler() -> None:
    handled = set(ACTIONS) | {action for action, run in ACTION_HANDLERS.items() if run}
    assert machine.actions_used() <= handled
    # The three the seed's table names that once had nothing behind them.
    assert {"updateCartItems", "applyCoupon", "mergeGuestCart"} <= handled


@pytest.mark.parametrize("missing", sorted(ACTION_HANDLERS))
def test_a_runtime_with_an_action_left_out_of_the_table_refuses_to_start(missing: str) -> None:
    table = {action: run for action, run in ACTION_HANDLERS.items() if action != missing}
    settings = load_settings(database_url="sqlite+aiosqlite:///:memory:", redis_url=None)
    with pytest.raises(MissingHandlers) as info:
        build_runtime(settings, actions=table)
    assert missing in str(info.value)


def test_confirm_order_checks_the_payment_under_its_own_action_first() -> None:
    transition = machine.transition_for(machine.State.order_review, machine.Event.CONFIRM_ORDER)
    assert transition is not None
    assert transition.actions == ("checkPayment", "holdCoupons", "reserveStock", "initiatePayment")
