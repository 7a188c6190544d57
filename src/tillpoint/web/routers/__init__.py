"""One router per feature; ``web.app`` includes them all."""
