"""What addresses offers the rest of tillpoint.

Address shapes and rules: the ``Address`` and ``GuestInfo`` models, guest-info checks, and
the address validation services pricing builds.

Other packages import this feature through this module only (checked by import-linter's
"public" contract and tests/unit/test_feature_boundaries.py)."""

from tillpoint.addresses.rules import check_address, check_guest_info
from tillpoint.addresses.schemas import Address, GuestInfo
from tillpoint.addresses.service import (
    AddressValidationService,
    build_address_validation,
)

__all__ = [
    "Address",
    "AddressValidationService",
    "GuestInfo",
    "build_address_validation",
    "check_address",
    "check_guest_info",
]
