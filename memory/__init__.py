"""Persistent memory in SQLite: sessions, messages, facts, plans. Knows nothing of the harness."""

from harness.memory.errors import DatabaseCorrupt, DatabaseLocked, StoreError, SchemaTooNew
from harness.memory.store import Fact, MemoryStore, Session, StoredMessage

__all__ = ["DatabaseCorrupt", "DatabaseLocked", "Fact", "StoreError", "MemoryStore", "SchemaTooNew", "Session",
           "StoredMessage"]
