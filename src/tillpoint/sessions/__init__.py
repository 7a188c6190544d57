"""Guest sessions (the seed's ``guest_sessions``) and the session cookie."""
