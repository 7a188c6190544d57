"""Outbound webhooks: events about orders and stock, signed and POSTed to the shop
owner's own systems, with retries. Other features emit through ``webhooks.public``."""
