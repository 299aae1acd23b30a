"""Errors the user can act on. Each carries a one-line message and a hint saying what to do."""

from __future__ import annotations


class HarnessError(Exception):
    """Base class: ``str(err)`` is the message, ``err.hint`` what to do about it."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}\n  hint: {self.hint}" if self.hint else self.message


class ConfigError(HarnessError):
    pass


class ServerUnreachable(HarnessError):
    """Nothing answers at the base URL."""


class ModelNotFound(HarnessError):
    """The server does not serve the requested model."""


class ContextTooLong(HarnessError):
    """The prompt (plus max_tokens) does not fit the model's context."""


class RequestTimeout(HarnessError):
    pass


class StreamInterrupted(HarnessError):
    """The server closed a streamed reply before it finished. ``partial`` holds what arrived."""

    def __init__(self, message: str, hint: str = "", partial: str = "") -> None:
        super().__init__(message, hint)
        self.partial = partial


class ServerError(HarnessError):
    """Any other error status from the server; ``status`` is the HTTP status."""

    def __init__(self, message: str, hint: str = "", status: int = 0) -> None:
        super().__init__(message, hint)
        self.status = status


class ServerStartError(HarnessError):
    """``harness serve`` could not bring a server up."""


class ModelPrepError(HarnessError):
    """The bundled model could not be assembled, verified or converted."""
