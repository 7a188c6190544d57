"""Order totals: subtotal, discounts, shipping, tax → OrderTotal, all exact."""
