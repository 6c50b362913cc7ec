"""Day-2 operations proven end to end: upgrade under load, rollback, secret rotation."""
