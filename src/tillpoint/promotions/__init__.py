"""Promotions: coupons, their rules and combinability, discount calculation, usage.

What a cart does with coupons (apply, remove, re-check, price) is the cart's
(``cart/coupons.py``, ``cart/applied_coupons.py``); promotions knows no cart."""
