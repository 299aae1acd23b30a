"""Rendering tools into the prompt, and tool results back into the transcript.

The harness writes the tool schemas into the system prompt itself, in the format the model
family expects, so any model works even when the server runs no tool parser. Everything
rendered here is deterministic: same tools, same bytes, same cached prefix.
"""

from __future__ import annotations

from typing import Any, Literal

from tools import ToolResult, ToolSet, canonical_json

ToolFormat = Literal["hermes", "json", "llama3", "mistral", "pythonic"]

_INSTRUCTIONS: dict[str, str] = {
    "hermes": (
        "For each function call, return a json object with function name and arguments within "
        "<tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": "
        "<args-json-object>}\n</tool_call>"
    ),
    "json": (
        "To call a function, reply with only a JSON object of the form "
        "{\"name\": <function-name>, \"arguments\": <args-json-object>} (a JSON list of such objects for "
        "several calls). To answer without calling a function, reply in plain text."
    ),
    "llama3": (
        "To call a function, respond with a JSON object of the form {\"name\": function name, "
        "\"parameters\": dictionary of argument name and its value}. Do not use variables."
    ),
    "mistral": (
        "To call functions, reply with [TOOL_CALLS] followed by a JSON list of "
        "{\"name\": <function-name>, \"arguments\": <args-json-object>} objects."
    ),
    "pythonic": (
        "To call functions, reply with a Python list of calls with keyword arguments only, e.g. "
        "[func_name1(param1=value1), func_name2(param=value)], and nothing else."
    ),
}


def render_tools(tools: ToolSet, format: ToolFormat = "hermes") -> str:
    """The tools section of the system prompt."""
    if not len(tools):
        return ""
    return (
        "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
        "You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n"
        f"{tools.specs_json()}\n</tools>\n\n{_INSTRUCTIONS[format]}"
    )


def render_system(instructions: str, tools: ToolSet | None = None, format: ToolFormat = "hermes",
                  extra_sections: tuple[str, ...] = ()) -> str:
    """The stable system prompt: instructions, tools, then any other fixed sections (skill index)."""
    parts = [instructions.strip()]
    if tools is not None and len(tools):
        parts.append(render_tools(tools, format))
    parts += [s.strip() for s in extra_sections if s.strip()]
    return "\n\n".join(parts)


# Measured with the bundled 0.5B model: without an explicit nudge it calls tools forever.
FOLLOW_UP = "Use this result to answer with final_answer. Call another tool only if you still need one."
FOLLOW_UP_FREE = "Now answer my question in plain text, unless you still need another tool."


def tool_results_message(results: list[ToolResult], role: Literal["user", "tool"] = "user",
                         constrained: bool = True) -> list[dict[str, Any]]:
    """Tool results as transcript messages.

    ``user`` (the default) wraps them in <tool_response> tags in one user turn: the bundled Qwen
    model loops on calls when fed ``role: tool`` messages but answers when results come back as
    a user turn (measured, see VLLM_NOTES). ``tool`` gives one OpenAI-style tool message each.
    """
    if role == "tool":
        return [{"role": "tool", "name": r.name, "content": r.output} for r in results]
    body = "\n".join(
        f"Tool result for {r.name}{'' if r.ok else ' (error)'}:\n{r.output}" for r in results
    )
    return [{"role": "user", "content": f"{body}\n\n{FOLLOW_UP if constrained else FOLLOW_UP_FREE}"}]


def parse_errors_message(errors: list[str], tool_names: list[str]) -> dict[str, Any]:
    """A user turn telling the model what was wrong with its calls, so it can retry."""
    lines = "\n".join(f"- {e}" for e in errors)
    return {"role": "user", "content": (
        f"<tool_response>\nYour tool call could not be used:\n{lines}\n"
        f"Available tools: {', '.join(tool_names)}. Reply with a corrected call, or answer in plain text.\n"
        "</tool_response>"
    )}
