"""``tillpoint inventory sync`` run as an operator runs it: a real process, with the
provider's settings in its environment."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

from tillpoint.config import Settings


def run_sync(
    settings: Settings, provider: dict[str, Any], kind: str
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "TILLPOINT_DATABASE_URL": settings.database_url,
        "TILLPOINT_SECRET_KEY": settings.secret_key or "",
        "TILLPOINT_LOG_LEVEL": "WARNING",
        "TILLPOINT_INVENTORY_PROVIDER": kind,
        **{f"TILLPOINT_{k.upper()}": str(v) for k, v in provider.items()},
    }
    cmd = [sys.executable, "-m", "tillpoint", "inventory", "sync"]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
