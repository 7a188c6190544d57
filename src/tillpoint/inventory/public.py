"""What inventory offers the rest of tillpoint.

Stock: levels and availability, reservations (reserve, extend, release, fulfil, expire),
cart holds, waitlists, the stock event stream, the provider sync and its webhook.

Other packages import this feature through this module only (checked by import-linter's
"public" contract and tests/unit/test_feature_boundaries.py)."""

from tillpoint.inventory.demo import seed_demo_stock
from tillpoint.inventory.errors import ReservationCapReached, ReservationClosed, ReservationNotFound
from tillpoint.inventory.fallbacks import join_waitlist, notify_waitlists
from tillpoint.inventory.feed import StockFeed
from tillpoint.inventory.holds import (
    HOLD_PREFIX,
    cart_reservation_id,
    check_hold_cap,
    held_for,
    release_cart_hold,
    release_other_holds,
)
from tillpoint.inventory.levels import MAX_ON_HAND, adjust_stock, low_stock
from tillpoint.inventory.models import InventoryReservation
from tillpoint.inventory.provider_webhooks import (
    SIGNATURE_FAILURES as PROVIDER_SIGNATURE_FAILURES,
)
from tillpoint.inventory.provider_webhooks import (
    receive_shipstation,
    receive_shopify,
    receive_woocommerce,
)
from tillpoint.inventory.providers import provider_from_settings
from tillpoint.inventory.reservations import (
    ACTIVE,
    Reservation,
    StockRequest,
    expire_reservations,
    extend_reservation,
    fulfill_reservation,
    get_reservation_in,
    release_reservation,
    reserve_inventory,
)
from tillpoint.inventory.stock import (
    StockStatus,
    cart_stock_problems,
    check_availability,
    ensure_available,
    level_of,
    product_stock,
    stock_rows,
    stock_status_for,
)
from tillpoint.inventory.stream import (
    parse_last_event_id,
    stock_events,
    stock_updates,
    watchable_product_ids,
)
from tillpoint.inventory.sync import sync_forever, sync_inventory
from tillpoint.inventory.webhook import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    receive_stock_webhook,
)

__all__ = [
    "ACTIVE",
    "DELIVERY_HEADER",
    "HOLD_PREFIX",
    "MAX_ON_HAND",
    "PROVIDER_SIGNATURE_FAILURES",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "InventoryReservation",
    "Reservation",
    "ReservationCapReached",
    "ReservationClosed",
    "ReservationNotFound",
    "StockFeed",
    "StockRequest",
    "StockStatus",
    "adjust_stock",
    "cart_reservation_id",
    "cart_stock_problems",
    "check_availability",
    "check_hold_cap",
    "ensure_available",
    "expire_reservations",
    "extend_reservation",
    "fulfill_reservation",
    "get_reservation_in",
    "held_for",
    "join_waitlist",
    "level_of",
    "low_stock",
    "notify_waitlists",
    "parse_last_event_id",
    "product_stock",
    "provider_from_settings",
    "receive_shipstation",
    "receive_shopify",
    "receive_stock_webhook",
    "receive_woocommerce",
    "release_cart_hold",
    "release_other_holds",
    "release_reservation",
    "reserve_inventory",
    "seed_demo_stock",
    "stock_events",
    "stock_rows",
    "stock_status_for",
    "stock_updates",
    "sync_forever",
    "sync_inventory",
    "watchable_product_ids",
]
