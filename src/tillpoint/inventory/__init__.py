"""Stock levels, reservations with TTL that never oversell, fallbacks, stock events and
external inventory sync."""
