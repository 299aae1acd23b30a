"""Declaring tools: a typed Python function (sync or async) becomes a tool with a JSON Schema.

The schema comes from the signature through pydantic; the description and the parameter
descriptions come from the docstring (Google-style ``Args:`` section). Schemas serialise to
the same bytes every run, because they are part of the cached prompt prefix.
"""

from __future__ import annotations

import inspect
import json
import re
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pydantic

DEFAULT_TIMEOUT_S = 30.0
DEFAULT_MAX_OUTPUT = 16_000  # characters handed back to the model


def canonical_json(value: Any) -> str:
    """The one serialisation used wherever bytes enter the prompt: sorted keys, no spaces."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass
class Tool:
    name: str
    description: str
    parameters: dict[str, Any]
    fn: Callable[..., Any]
    is_async: bool = False
    timeout_s: float = DEFAULT_TIMEOUT_S
    max_output: int = DEFAULT_MAX_OUTPUT
    # Side effects (writes, shell, code) need the caller's approval before each run.
    needs_approval: bool = False
    # Set for signature-derived tools: validates and coerces arguments (nested models etc.).
    args_model: type[pydantic.BaseModel] | None = field(default=None, repr=False)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)

    def spec(self) -> dict[str, Any]:
        """The OpenAI-style function description (also what the prompt renders)."""
        return {"type": "function", "function": {"name": self.name, "description": self.description,
                                                 "parameters": self.parameters}}

    def bind(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """Keyword arguments for ``fn``, coerced by the signature's model where there is one."""
        if self.args_model is None:
            return arguments
        model = self.args_model.model_validate(arguments)
        return {name: getattr(model, name) for name in self.args_model.model_fields}

    @classmethod
    def from_schema(cls, name: str, description: str, parameters: dict[str, Any], fn: Callable[..., Any],
                    **options: Any) -> "Tool":
        """A tool declared with an explicit JSON Schema; ``fn`` receives the arguments as keywords."""
        _check_name(name)
        return cls(name=name, description=description, parameters=parameters, fn=fn,
                   is_async=inspect.iscoroutinefunction(fn), **options)


def _check_name(name: str) -> None:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_\-]{0,63}", name):
        raise ValueError(f"tool name {name!r} must be letters, digits, '_' or '-' (at most 64)")


_SECTION = re.compile(r"^\s*(Args|Arguments|Parameters|Returns|Raises|Yields|Examples?|Notes?):\s*$")


def parse_docstring(doc: str | None) -> tuple[str, dict[str, str]]:
    """(description, {parameter: description}) from a Google-style docstring."""
    if not doc:
        return "", {}
    lines = inspect.cleandoc(doc).splitlines()
    description: list[str] = []
    params: dict[str, str] = {}
    section = None
    current = None
    for line in lines:
        header = _SECTION.match(line)
        if header:
            section = header.group(1)
            current = None
            continue
        if section is None:
            description.append(line)
        elif section in ("Args", "Arguments", "Parameters"):
            m = re.match(r"^\s*\*{0,2}(\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$", line)
            if m and (len(line) - len(line.lstrip())) <= 4:
                current = m.group(1)
                params[current] = m.group(2).strip()
            elif current and line.strip():
                params[current] = f"{params[current]} {line.strip()}".strip()
    return "\n".join(description).strip(), params


def _clean_schema(schema: Any) -> Any:
    """Drop pydantic's generated titles: tokens in every prompt, no information for the model."""
    if isinstance(schema, dict):
        out = {}
        for key, value in schema.items():
            if key == "title" and isinstance(value, str):
                continue
            if key in ("properties", "$defs", "definitions") and isinstance(value, dict):
                out[key] = {k: _clean_schema(v) for k, v in value.items()}
            else:
                out[key] = _clean_schema(value)
        return out
    if isinstance(schema, list):
        return [_clean_schema(v) for v in schema]
    return schema


def schema_from_signature(fn: Callable[..., Any],
                          param_docs: dict[str, str]) -> tuple[dict[str, Any], type[pydantic.BaseModel]]:
    signature = inspect.signature(fn)
    hints = typing.get_type_hints(fn, include_extras=True)
    fields: dict[str, Any] = {}
    for name, param in signature.parameters.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise TypeError(f"tool {fn.__name__}: *args/**kwargs cannot be described to a model")
        annotation = hints.get(name, Any)
        default = ... if param.default is inspect.Parameter.empty else param.default
        fields[name] = (annotation, pydantic.Field(default=default, description=param_docs.get(name)))
    model = pydantic.create_model(f"{fn.__name__}_arguments", **fields)  # type: ignore[call-overload]
    schema = _clean_schema(model.model_json_schema())
    schema.setdefault("properties", {})
    schema["additionalProperties"] = False
    return schema, model


def tool(fn: Callable[..., Any] | None = None, *, name: str | None = None, description: str | None = None,
         timeout_s: float = DEFAULT_TIMEOUT_S, max_output: int = DEFAULT_MAX_OUTPUT,
         needs_approval: bool = False) -> Any:
    """Make a tool of a typed function: ``@tool`` or ``@tool(name=..., timeout_s=...)``."""

    def make(f: Callable[..., Any]) -> Tool:
        doc, param_docs = parse_docstring(f.__doc__)
        tool_name = name or f.__name__
        _check_name(tool_name)
        parameters, model = schema_from_signature(f, param_docs)
        return Tool(name=tool_name, description=description or doc or tool_name, parameters=parameters, fn=f,
                    is_async=inspect.iscoroutinefunction(f), timeout_s=timeout_s, max_output=max_output,
                    needs_approval=needs_approval, args_model=model)

    return make(fn) if fn is not None else make
