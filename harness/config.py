"""Settings: where the server is, which model, where the harness keeps its files.

Precedence, highest first: explicit arguments (CLI flags), ``HARNESS_*`` environment
variables, the TOML file ``<home>/config.toml``, defaults.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable
from pathlib import Path

import httpx
from pydantic import BaseModel, Field, ValidationError, field_validator

from harness.errors import ConfigError
from harness.mcp import MCPServerSettings

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
    """Every setting, typed. ``config.toml`` is validated against this model, so a value of the
    wrong type is an error naming the file and the key (never, say, a database named ``['a']``)."""

    # Each description says what is expected: it is the hint when a value does not fit.
    base_url: str = Field(default=f"http://127.0.0.1:{DEFAULT_PORT}",
                          description=f"an http:// or https:// URL with a host, e.g. http://127.0.0.1:{DEFAULT_PORT}")
    model: str | None = Field(default=None, description="the served model's name, a string (default: ask the server)")
    api_key: str | None = Field(default=None, description="the server's API key, a string")
    timeout_s: float = Field(default=600.0, gt=0, description="seconds to wait for the server, a positive number")
    memory: str | None = Field(default=None, description="the memory database's path, a string")
    workspace: str | None = Field(default=None, description="the folder the file tools are confined to, a string")
    tools: str | None = Field(default=None, description='"read", "all", or tool names (a string or a list of strings)')
    skills: list[str] | None = Field(default=None, description="more folders of skills, a list of strings")
    constrained: bool | None = Field(default=None, description="guided decoding of calls, true or false")
    max_steps: int | None = Field(default=None, gt=0, description="the most model turns per task, a positive integer")
    yes: bool | None = Field(default=None, description="approve every call without asking, true or false")
    mcp_servers: dict[str, MCPServerSettings] = Field(
        default_factory=dict, description="tables [mcp_servers.NAME] with command, args, env, or url, headers; "
                                          "and trust, timeout_s")

    @field_validator("base_url")
    @classmethod
    def _server_url(cls, value: str) -> str:
        try:
            url = httpx.URL(value)
        except httpx.InvalidURL as exc:
            raise ValueError(f"not a URL ({exc})") from exc
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError("not an http:// or https:// URL with a host")
        return value

    @field_validator("tools", mode="before")
    @classmethod
    def _tool_list(cls, value: object) -> object:
        # A TOML list of names means the same as the flag's comma list.
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return ",".join(value)
        return value

    @classmethod
    def load(cls, **overrides: object) -> "Settings":
        """Settings from the config file, then HARNESS_* variables, then ``overrides`` (None: not given)."""
        path = config_path()
        values: dict[str, object] = dict(read_config_file(path)[0])
        sources = {key: str(path) for key in values}
        for key, var in ENV_VARS.items():
            if os.environ.get(var):
                values[key], sources[key] = os.environ[var], var
        for key, value in overrides.items():
            if value is None or key not in cls.model_fields:
                continue
            if sources.get(key) not in ENV_VARS.values() or value != values.get(key):
                # A flag whose value is its environment variable's (click's envvar) names the variable.
                sources[key] = ""
            values[key] = value
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise _config_error(exc, lambda key: sources.get(key, "")) from exc


ENV_VARS = {"base_url": "HARNESS_BASE_URL", "model": "HARNESS_MODEL", "api_key": "HARNESS_API_KEY"}


def config_path() -> Path:
    return harness_home() / "config.toml"


def read_config_file(path: Path | None = None) -> tuple[dict[str, object], list[str]]:
    """The settings a config file sets, validated: ({key: value}, unknown keys). No file: ({}, [])."""
    path = path or config_path()
    if not path.is_file():
        return {}, []
    try:
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}", hint="fix or remove the file") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}", hint="fix its permissions or remove it") from exc
    known = {k: v for k, v in data.items() if k in Settings.model_fields}
    try:
        # Strict: TOML values are typed, so "8" for a number or 1 for true is a mistake worth naming.
        settings = Settings.model_validate(known, strict=True)
    except ValidationError as exc:
        raise _config_error(exc, lambda key: str(path)) from exc
    return settings.model_dump(include=set(known)), sorted(set(data) - set(known))


def _config_error(exc: ValidationError, source: Callable[[str], str]) -> ConfigError:
    """One line per bad key: where it came from, the key, the value, and what was expected."""
    lines, hints = [], []
    for error in exc.errors():
        # A nested key (mcp_servers.NAME.command) is named in full.
        key = ".".join(str(part) for part in error["loc"]) if error["loc"] else "?"
        where = f"{source(key)}: " if source(key) else ""
        lines.append(f"{where}{key} = {error['input']!r} is not valid: {error['msg'].removeprefix('Value error, ')}")
        field = Settings.model_fields.get(key.split(".")[0])
        if field is not None and field.description:
            hints.append(f"{key.split('.')[0]} should be {field.description}")
    return ConfigError("\n".join(lines), hint="; ".join(dict.fromkeys(hints)))
