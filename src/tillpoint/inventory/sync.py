"""Pull levels from the external provider into the ``inventory`` table (``tillpoint
inventory sync``). When the provider cannot be read, nothing changes and our own table
keeps serving: it is the seed's ``fallback: internal``."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from tillpoint.errors import FieldError
from tillpoint.inventory.levels import (
    MAX_ON_HAND,
    ExternalLevel,
    apply_external_levels,
    known_skus,
)
from tillpoint.inventory.provider_http import ProviderError
from tillpoint.inventory.providers import InventoryProvider
from tillpoint.runtime import Runtime
from tillpoint.security.screen import screen_text

log = logging.getLogger(__name__)


@dataclass
class SyncResult:
    provider: str
    fetched: int = 0
    updated: int = 0
    unknown_skus: list[str] = field(default_factory=list)
    invalid_skus: list[str] = field(default_factory=list)
    # SKUs the input screen refused (card numbers, control characters): by place only,
    # ("inventory_levels", n, "sku"), never by value.
    refused: list[FieldError] = field(default_factory=list)
    error: str | None = None


async def sync_inventory(rt: Runtime, provider: InventoryProvider) -> SyncResult:
    """One pull: apply every valid level of a known SKU in one transaction; unknown SKUs
    and levels out of range (negative, over ``MAX_ON_HAND``) are skipped and reported; a
    provider failure changes nothing."""
    result = SyncResult(provider=provider.name)
    try:
        levels = await provider.fetch_levels()
    except ProviderError as exc:
        log.warning("inventory provider unavailable", extra={"error": str(exc)})
        result.error = str(exc)
        return result
    result.fetched = len(levels)
    levels = _screened(levels, result)
    async with rt.db.transaction() as s:
        known = await known_skus(s, [lv.sku for lv in levels])
        good: dict[str, ExternalLevel] = {}
        for lv in levels:
            if lv.sku not in known:
                result.unknown_skus.append(lv.sku)
            elif not 0 <= lv.on_hand <= MAX_ON_HAND:
                result.invalid_skus.append(lv.sku)
            else:
                good[lv.sku] = lv  # the last report of a SKU wins
        if good:
            changed = await apply_external_levels(
                rt, s, list(good.values()), source=f"sync:{provider.name}"
            )
            result.updated = len(changed)
    return result


def _screened(levels: list[ExternalLevel], result: SyncResult) -> list[ExternalLevel]:
    """The levels whose SKU passes the screen every identifier we accept passes (a card
    number is never stored, a NUL never reaches PostgreSQL); the rest go to ``refused``."""
    kept = []
    for n, lv in enumerate(levels):
        problem = screen_text(lv.sku, ("inventory_levels", n, "sku"), single_line=True)
        if problem is None:
            kept.append(lv)
        else:
            result.refused.append(problem)
    return kept


async def sync_forever(rt: Runtime, provider: InventoryProvider, interval: float) -> None:
    """Sync now and then every ``interval`` seconds (the seed's 5 min) until cancelled."""
    while True:
        result = await sync_inventory(rt, provider)
        log.info("inventory synced", extra={"result": result.__dict__})
        await asyncio.sleep(interval)
