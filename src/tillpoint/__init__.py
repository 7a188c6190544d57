"""tillpoint: a production-grade checkout for Python shops."""

__version__ = "0.1.0"
