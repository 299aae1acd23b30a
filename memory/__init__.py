"""Persistent memory in SQLite: sessions, messages, facts, plans. Knows nothing of the harness."""

from memory.errors import DatabaseCorrupt, DatabaseLocked, MemoryError, SchemaTooNew
from memory.store import Fact, MemoryStore, Session, StoredMessage

__all__ = ["DatabaseCorrupt", "DatabaseLocked", "Fact", "MemoryError", "MemoryStore", "SchemaTooNew", "Session",
           "StoredMessage"]
