"""Payments: the gateway protocol, Stripe and sandbox gateways, webhooks, fraud controls."""
