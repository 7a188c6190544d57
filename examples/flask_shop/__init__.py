"""A minimal Flask shop paying through tillpoint (see README.md)."""
