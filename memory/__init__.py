"""Persistent memory in SQLite. Knows nothing of the harness."""
