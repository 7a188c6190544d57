"""CSRF, rate limiting, security headers and card-data scrubbing."""
