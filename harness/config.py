"""Settings: where the server is, which model, where the harness keeps its files.

Precedence, highest first: explicit arguments (CLI flags), ``HARNESS_*`` environment
variables, the TOML file ``<home>/config.toml``, defaults.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

from pydantic import BaseModel, Field

DEFAULT_PORT = 8011
DEFAULT_MODEL = "qwen2.5-coder-0.5b"


def harness_home() -> Path:
    """The user's harness directory: config, history, memory database, skills, server state."""
    return Path(os.environ.get("HARNESS_HOME") or Path.home() / ".harness")


def cache_dir() -> Path:
    """Where prepared model checkpoints and vLLM's compile caches live (never the repo)."""
    if os.environ.get("HARNESS_CACHE"):
        return Path(os.environ["HARNESS_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "harness"


def memory_path(override: str | None = None) -> Path:
    """The memory database: --memory, else HARNESS_MEMORY, else <home>/memory.db."""
    return Path(override or os.environ.get("HARNESS_MEMORY") or harness_home() / "memory.db").expanduser()


class Settings(BaseModel):
    base_url: str = f"http://127.0.0.1:{DEFAULT_PORT}"
    model: str | None = Field(default=None, description="served model name; None asks the server")
    api_key: str | None = None
    timeout_s: float = 600.0

    @classmethod
    def load(cls, **overrides: object) -> "Settings":
        values: dict[str, object] = {}
        path = harness_home() / "config.toml"
        if path.is_file():
            try:
                values.update(tomllib.loads(path.read_text()))
            except tomllib.TOMLDecodeError as exc:
                from harness.errors import ConfigError

                raise ConfigError(f"{path} is not valid TOML: {exc}", hint="fix or remove the file") from exc
        env = {
            "base_url": os.environ.get("HARNESS_BASE_URL"),
            "model": os.environ.get("HARNESS_MODEL"),
            "api_key": os.environ.get("HARNESS_API_KEY"),
        }
        values.update({k: v for k, v in env.items() if v})
        values.update({k: v for k, v in overrides.items() if v is not None})
        known = {k: v for k, v in values.items() if k in cls.model_fields}
        return cls(**known)
