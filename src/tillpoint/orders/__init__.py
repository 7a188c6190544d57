"""Orders: created once per paid checkout, with lines, payments, refunds and notifications."""
