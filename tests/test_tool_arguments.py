"""Validating a call's arguments stays cheap whatever the model sends: oversized or deeply
nested arguments are refused with a message the model can act on (issue 11, item 15)."""

from __future__ import annotations

from typing import Any

import pytest

from harness.tools import ToolSet, tool
from harness.tools.toolset import MAX_ARGUMENT_DEPTH, MAX_ARGUMENT_VALUES


@tool
def total(items: list[int]) -> int:
    """Add numbers.

    Args:
        items: the numbers
    """
    return sum(items)


@tool
def store(data: Any) -> str:
    """Store anything.

    Args:
        data: any JSON value
    """
    return "stored"


def _nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth - 1):
        value = [value]
    return value


TOOLS = ToolSet([total, store])

# (tool, arguments, words the message must contain); each would take minutes to validate
REFUSED = [
    ("total", {"items": [1] * 1_000_000}, ["too large", f"{MAX_ARGUMENT_VALUES:,}", "split the work"]),
    ("total", {"items": ["x"] * 1_000_000}, ["too large", "write the data to a file"]),
    ("store", {"data": [{"k": i} for i in range(200_000)]}, ["too large"]),
    ("store", {"data": _nested(5_000)}, ["nest more than", str(MAX_ARGUMENT_DEPTH), "Flatten"]),
]


@pytest.mark.timeout(30)
@pytest.mark.parametrize(("name", "arguments", "words"), REFUSED)
def test_oversized_arguments_are_refused_with_a_clear_message(name, arguments, words):
    message = TOOLS.check(name, arguments) or ""
    assert [w in message for w in words] == [True] * len(words), message


@pytest.mark.timeout(30)
def test_refused_arguments_never_run_the_tool():
    result = TOOLS.run_sync("total", {"items": [1] * 1_000_000})
    assert (result.ok, "too large" in result.output) == (False, True)


@pytest.mark.parametrize(("name", "arguments"), [
    ("total", {"items": [1] * (MAX_ARGUMENT_VALUES - 1)}),
    ("store", {"data": _nested(MAX_ARGUMENT_DEPTH - 1)}),
])
def test_arguments_within_the_limits_are_checked_as_usual(name, arguments):
    assert TOOLS.check(name, arguments) is None


@pytest.mark.timeout(30)
def test_many_schema_errors_are_cut_to_the_first_few():
    message = TOOLS.check("total", {"items": ["x"] * (MAX_ARGUMENT_VALUES - 1)}) or ""
    assert message.count("is not of type 'integer'") == 8


@pytest.mark.parametrize("user,arguments,expected", [
    # Seen with the 0.5B model: the walk was timed by car (mode left at its default, driving).
    ("How long would it take me to walk from Trastevere to the Colosseum?", {"origin": "Trastevere"}, {"mode": "walking"}),
    ("How long would it take me to walk there?", {"mode": "walking"}, {}),  # already so
    ("Drive me to the walking trail", {}, {}),  # two of the choices said: neither
    ("How far is it from Bergen to Voss?", {}, {}),  # none said
])
def test_a_closed_choice_the_user_said_is_the_calls(user, arguments, expected):
    from harness.grounding import said_choices
    from harness.tooluse import load_tools

    assert said_choices(arguments, load_tools()["get_directions"].parameters, user) == expected
    assert said_choices(None, None, user) == {} and said_choices({}, {"properties": {"m": {"enum": [1]}}}, "1") == {}  # type: ignore[arg-type]
