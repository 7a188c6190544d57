"""Imports every feature's tables so ``Base.metadata`` is complete (Alembic, tests).

Each feature adds one line here when it adds tables.
"""

from tillpoint.api_keys import models as api_key_models
from tillpoint.audit import models as audit_models
from tillpoint.auth import models as auth_models
from tillpoint.cart import models as cart_models
from tillpoint.catalog import models as catalog_models
from tillpoint.checkout import models as checkout_models
from tillpoint.checkout_sessions import models as checkout_session_models
from tillpoint.db import Base
from tillpoint.inventory import models as inventory_models
from tillpoint.orders import models as order_models
from tillpoint.outbox import models as outbox_models
from tillpoint.payments import models as payment_models
from tillpoint.promotions import models as promotion_models
from tillpoint.webhooks import models as webhook_models

__all__ = [
    "Base",
    "api_key_models",
    "audit_models",
    "auth_models",
    "cart_models",
    "catalog_models",
    "checkout_models",
    "checkout_session_models",
    "inventory_models",
    "order_models",
    "outbox_models",
    "payment_models",
    "promotion_models",
    "webhook_models",
]
