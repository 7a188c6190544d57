"""Users and registered sessions."""
