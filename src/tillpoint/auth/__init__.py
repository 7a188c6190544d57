"""Users and their sessions: guest and registered sessions, tokens, cookies, login."""
