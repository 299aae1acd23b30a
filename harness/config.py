"""Settings: where the server is, which model, where the harness keeps its files.

Precedence, highest first: explicit arguments (CLI flags), ``HARNESS_*`` environment
variables, the TOML file ``<home>/config.toml``, defaults. ``Settings`` is the only reader.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable
from pathlib import Path

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from harness.errors import ConfigError
from harness.mcp import MCPServerSettings

DEFAULT_PORT = 8011


def harness_home() -> Path:
    """The user's harness directory: config, history, memory database, skills, server state."""
    return Path(os.environ.get("HARNESS_HOME") or Path.home() / ".harness")


def cache_dir() -> Path:
    """Where prepared model checkpoints and vLLM's compile caches live (never the repo)."""
    if os.environ.get("HARNESS_CACHE"):
        return Path(os.environ["HARNESS_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "harness"


class Settings(BaseModel):
    """Every setting, typed, in one place: ``Settings.load`` reads the config file, the
    ``HARNESS_*`` variables and the flags, and ``harness.build.build_agent`` builds an agent from
    it. A value of the wrong type is an error naming where it came from and the key."""

    model_config = ConfigDict(extra="forbid")

    # Each description says what is expected: it is the hint when a value does not fit.
    base_url: str = Field(default=f"http://127.0.0.1:{DEFAULT_PORT}",
                          description=f"an http:// or https:// URL with a host, e.g. http://127.0.0.1:{DEFAULT_PORT}")
    model: str | None = Field(default=None, description="the served model's name, a string (default: ask the server)")
    api_key: str | None = Field(default=None, description="the server's API key, a string")
    timeout_s: float = Field(default=600.0, gt=0, description="seconds to wait for the server, a positive number")
    memory: str | None = Field(default=None, description="the memory database's path, a string "
                                                          "(default: <home>/memory.db)")
    workspace: str = Field(default=".", description="the folder the file tools are confined to, a string")
    tools: str = Field(default="read", description='"read", "all", or tool names (a string or a list of strings)')
    skills: list[str] = Field(default_factory=list, description="more folders of skills, a list of strings")
    constrained: bool | None = Field(default=None, description="guided decoding of calls, true or false "
                                                               "(default: on for the bundled models)")
    max_steps: int = Field(default=8, gt=0, description="the most model turns per task, a positive integer")
    yes: bool = Field(default=False, description="approve every call without asking, true or false")
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
    def load(cls, **flags: object) -> "Settings":
        """Defaults, then the config file, then HARNESS_* variables, then ``flags`` (None: not given)."""
        unknown = set(flags) - set(cls.model_fields)
        if unknown:
            raise TypeError(f"not settings: {', '.join(sorted(unknown))}")
        path = config_path()
        values: dict[str, object] = dict(read_config_file(path))
        sources = {key: str(path) for key in values}
        for key, var in ENV_VARS.items():
            if os.environ.get(var):
                values[key], sources[key] = os.environ[var], var
        for key, value in flags.items():
            if value is not None:
                values[key], sources[key] = value, ""
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise _config_error(exc, lambda key: sources.get(key, "")) from exc

    def memory_path(self) -> Path:
        return Path(self.memory).expanduser() if self.memory else harness_home() / "memory.db"


# Every scalar setting has its variable. Skills come from HARNESS_SKILLS in harness/skills.py (a
# search path with its own precedence); MCP servers only from the file.
ENV_VARS = {key: f"HARNESS_{key.upper()}" for key in Settings.model_fields if key not in ("skills", "mcp_servers")}


def config_path() -> Path:
    return harness_home() / "config.toml"


def read_config_file(path: Path | None = None) -> dict[str, object]:
    """The settings a config file sets, validated ({} without a file). An unknown key, or a value
    of the wrong type, is an error naming the file and the key."""
    path = path or config_path()
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}", hint="fix or remove the file") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}", hint="fix its permissions or remove it") from exc
    try:
        # Strict: TOML values are typed, so "8" for a number or 1 for true is a mistake worth naming.
        settings = Settings.model_validate(data, strict=True)
    except ValidationError as exc:
        raise _config_error(exc, lambda key: str(path)) from exc
    return settings.model_dump(include=set(data))


def _config_error(exc: ValidationError, source: Callable[[str], str]) -> ConfigError:
    """One line per bad key: where it came from, the key, the value, and what was expected."""
    lines, hints = [], []
    for error in exc.errors():
        # A nested key (mcp_servers.NAME.command) is named in full.
        key = ".".join(str(part) for part in error["loc"]) if error["loc"] else "?"
        where = f"{source(key)}: " if source(key) else ""
        if error["type"] == "extra_forbidden":
            lines.append(f"{where}{key} is not a setting")
            hints.append(f"settings are: {', '.join(Settings.model_fields)}")
            continue
        lines.append(f"{where}{key} = {error['input']!r} is not valid: {error['msg'].removeprefix('Value error, ')}")
        field = Settings.model_fields.get(key.split(".")[0])
        if field is not None and field.description:
            hints.append(f"{key.split('.')[0]} should be {field.description}")
    return ConfigError("\n".join(lines), hint="; ".join(dict.fromkeys(hints)))
