"""Promotions: coupons, their validation and combinability, discount calculation."""
