"""Products and variants with prices: enough catalog for real carts and the demo shop."""
