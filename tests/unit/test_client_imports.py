"""A shop imports tillpoint.client without loading the server: no other tillpoint module
(nor FastAPI, SQLAlchemy) comes with it. Checked in a fresh interpreter."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"


def test_importing_the_client_loads_nothing_of_the_server() -> None:
    code = (
        "import json, sys, tillpoint.client, tillpoint.client.webhooks; "
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('tillpoint', 'fastapi', 'sqlalchemy', 'starlette', 'redis', 'stripe'))))"
    )
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    loaded = json.loads(out.stdout)
    assert "tillpoint.client" in loaded
    assert [m for m in loaded if m != "tillpoint" and not m.startswith("tillpoint.client")] == []
