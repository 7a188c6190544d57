"""The shopping bag: carts, lines, applied coupons (applying, removing, re-checking and
pricing them); CRUD, merge, stock holds and expiry."""
