"""The shopping bag: carts, lines, applied coupons; CRUD, merge and expiry."""
