"""What api_keys offers the rest of tillpoint: making, listing and revoking keys, and
authenticating a request's bearer key for a scope.

Other packages import this feature through this module only."""

from tillpoint.api_keys.service import (
    ApiKeyInfo,
    KeyUse,
    Scope,
    authenticate,
    create_key,
    list_keys,
    revoke_key,
)

__all__ = [
    "ApiKeyInfo",
    "KeyUse",
    "Scope",
    "authenticate",
    "create_key",
    "list_keys",
    "revoke_key",
]
