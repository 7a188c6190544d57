from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from tillpoint.checkout import machine
from tillpoint.cli import app

ROOT = Path(__file__).resolve().parents[2]


def test_machine_command_prints_mermaid_and_dot() -> None:
    runner = CliRunner()
    out = runner.invoke(app, ["machine", "--format", "mermaid"])
    assert out.exit_code == 0 and out.output == machine.to_mermaid()
    out = runner.invoke(app, ["machine", "--format", "dot", "--no-expiry"])
    assert out.exit_code == 0 and out.output == machine.to_dot(include_expiry=False)
    assert "EXPIRE" not in out.output.replace("EXPIRE / releaseReservations", "")
    bad = runner.invoke(app, ["machine", "--format", "png"])
    assert bad.exit_code != 0


def test_committed_diagram_shows_every_state_and_event() -> None:
    svg = (ROOT / "docs" / "checkout-machine.svg").read_text()
    for state in machine.State:
        assert f">{state.value}<" in svg
    for t in machine.TRANSITIONS:
        if t.event is not machine.Event.EXPIRE:
            assert t.event.value in svg
