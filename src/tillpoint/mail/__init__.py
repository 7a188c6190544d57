"""The shop's emails: typed content per kind, rendered from overridable Jinja2 templates
into a subject, a plain-text part and an HTML part (sent as one multipart message)."""
