"""Errors of the store. Each has a message and a hint saying what to do."""

from __future__ import annotations


class StoreError(Exception):
    """Base of the store's errors (named so as not to shadow the builtin MemoryError)."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}\n  hint: {self.hint}" if self.hint else self.message


class DatabaseCorrupt(StoreError):
    """The file is not a SQLite database, or SQLite reports it damaged. It is never overwritten."""


class DatabaseLocked(StoreError):
    """Another process held the database past the busy timeout."""


class SchemaTooNew(StoreError):
    """The database was written by a newer version of the store; it is refused, never downgraded."""
