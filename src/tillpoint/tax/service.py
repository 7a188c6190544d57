"""The seed's ``TaxCalculationService``: one provider, results cached for an hour.

The default manual provider (our own rate tables, pure) is computed at every call: it
costs less than the cache. A remote provider's results are cached by a digest of every
input (lines, categories, address, shipping, currency), in Redis when configured and in
process otherwise, for ``tax_cache_ttl_seconds`` (the seed's 1 h). A provider failure is
never cached and becomes ``tax_unavailable`` (503): we refuse to price rather than guess.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pydantic import SecretStr

from tillpoint.config import Settings
from tillpoint.errors import ServiceUnavailable
from tillpoint.runtime import Runtime
from tillpoint.tax.avalara import AvalaraTaxProvider
from tillpoint.tax.manual import ManualTaxProvider
from tillpoint.tax.taxjar import TaxJarTaxProvider
from tillpoint.tax.transactions import TaxRecorder
from tillpoint.tax.types import TaxCalculation, TaxProvider, TaxProviderError, TaxRequest

log = logging.getLogger(__name__)

_PREFIX = "tax:"


@dataclass
class TaxCalculationService:
    provider: TaxProvider
    # The provider's record of sales (AvaTax, TaxJar), fed by the sweeper; None: no record.
    recorder: TaxRecorder | None = None
    _memory: dict[str, tuple[datetime, TaxCalculation]] = field(default_factory=dict)

    async def calculate_tax(self, rt: Runtime, request: TaxRequest) -> TaxCalculation:
        """Tax for ``request`` from the cache or the provider; ``tax_unavailable`` on failure."""
        if type(self.provider) is ManualTaxProvider:
            # Our own tables: a pure in-process lookup, cheaper than the cache's digest and
            # round trip to Redis (and never stale after a deploy changed a rate).
            return self.provider.compute(request)
        key = request.cache_key()
        cached = await self._get(rt, key)
        if cached is not None:
            return cached
        try:
            result = await self.provider.calculate(request)
        except TaxProviderError as exc:
            log.warning("tax provider failed", extra={"provider": self.provider.name})
            raise ServiceUnavailable(
                "Tax cannot be calculated right now, so the order cannot be priced. "
                "Please try again shortly.",
                code="tax_unavailable",
                details={"provider": self.provider.name, "reason": str(exc)},
            ) from exc
        await self._put(rt, key, result)
        return result

    async def _get(self, rt: Runtime, key: str) -> TaxCalculation | None:
        if rt.redis is not None:
            try:
                raw = await rt.redis.get(_PREFIX + key)
            except Exception:  # a cache outage only costs a recalculation
                log.warning("tax cache read failed", exc_info=True)
                return None
            return TaxCalculation.from_json(json.loads(raw)) if raw else None
        hit = self._memory.get(key)
        if hit is None or hit[0] <= rt.clock.now():
            return None
        return hit[1]

    async def _put(self, rt: Runtime, key: str, result: TaxCalculation) -> None:
        ttl = rt.settings.tax_cache_ttl_seconds
        if rt.redis is not None:
            try:
                await rt.redis.set(_PREFIX + key, json.dumps(result.to_json()), ex=ttl)
            except Exception:
                log.warning("tax cache write failed", exc_info=True)
            return
        if len(self._memory) > 10_000:
            self._memory.clear()
        self._memory[key] = (rt.clock.now() + timedelta(seconds=ttl), result)


def _secret(value: SecretStr | None, name: str, provider: str) -> str:
    if value is None or not value.get_secret_value():
        raise ValueError(f"TILLPOINT_{name.upper()} is required for {provider}")
    return value.get_secret_value()


def _origin(s: Settings) -> dict[str, str]:
    return {"country": s.shipping_origin_country, "postal_code": s.shipping_origin_postal_code}


def build_avalara(s: Settings) -> AvalaraTaxProvider:
    if not s.tax_avalara_account_id:
        raise ValueError("TILLPOINT_TAX_AVALARA_ACCOUNT_ID is required for avalara")
    return AvalaraTaxProvider(
        account_id=s.tax_avalara_account_id,
        license_key=_secret(s.tax_avalara_license_key, "tax_avalara_license_key", "avalara"),
        company_code=s.tax_avalara_company_code,
        endpoint=s.tax_avalara_endpoint,
        origin=_origin(s),
        timeout=s.tax_timeout_seconds,
    )


def build_taxjar(s: Settings) -> TaxJarTaxProvider:
    return TaxJarTaxProvider(
        token=_secret(s.tax_taxjar_api_token, "tax_taxjar_api_token", "taxjar"),
        endpoint=s.tax_taxjar_endpoint,
        origin=_origin(s),
        timeout=s.tax_timeout_seconds,
    )


def build_tax_service(s: Settings) -> TaxCalculationService:
    """The provider the settings choose: ``manual`` (default), ``stripe_tax``, ``avalara``
    or ``taxjar`` (the last two also record sales, voids and refunds)."""
    if s.tax_provider == "avalara":
        avalara = build_avalara(s)
        return TaxCalculationService(avalara, recorder=avalara)
    if s.tax_provider == "taxjar":
        taxjar = build_taxjar(s)
        return TaxCalculationService(taxjar, recorder=taxjar)
    if s.tax_provider == "stripe_tax":
        import stripe

        from tillpoint.tax.stripe_tax import StripeTaxProvider

        if not s.tax_stripe_api_key:
            raise ValueError("TILLPOINT_TAX_STRIPE_API_KEY is required for stripe_tax")
        base = {"api": s.tax_stripe_api_base} if s.tax_stripe_api_base else None
        client = stripe.StripeClient(
            s.tax_stripe_api_key,
            base_addresses=base or {},  # type: ignore[arg-type]
            http_client=stripe.HTTPXClient(timeout=s.tax_timeout_seconds),
        )
        return TaxCalculationService(
            StripeTaxProvider(client, inclusive=bool(s.tax_prices_include_tax))
        )
    return TaxCalculationService(ManualTaxProvider(inclusive=s.tax_prices_include_tax))
