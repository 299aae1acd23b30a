"""Rendering tools into the prompt, and tool results back into the transcript.

The harness writes the tool schemas into the system prompt itself, in the format the model
family expects, so any model works even when the server runs no tool parser. Everything
rendered here is deterministic: same tools, same bytes, same cached prefix.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from harness.constrained import FINAL_ANSWER
from harness.tools import ToolResult, ToolSet

ToolFormat = Literal["hermes", "json", "llama3", "mistral", "pythonic", "qwen3coder"]

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
    "qwen3coder": (
        "To call a function, reply in this form, one <tool_call> per call:\n<tool_call>\n<function=function_name>\n"
        "<parameter=parameter_name>\nvalue (text as it is; numbers, booleans, objects and lists as JSON)\n"
        "</parameter>\n</function>\n</tool_call>"
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


def _compact(value: Any) -> str:
    # Key order as written ("name" before "arguments", as guided decoding emits it); deterministic.
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _render_call(calls: list[tuple[str, dict[str, Any]]], format: ToolFormat) -> str:
    objects = [{"name": name, "arguments": arguments} for name, arguments in calls]
    if format == "hermes":
        return "\n".join(f"<tool_call>\n{_compact(o)}\n</tool_call>" for o in objects)
    if format == "mistral":
        return f"[TOOL_CALLS]{_compact(objects)}"
    if format == "pythonic":
        args = lambda a: ", ".join(f"{k}={json.dumps(v)}" for k, v in a.items())  # noqa: E731
        return "[" + ", ".join(f"{n}({args(a)})" for n, a in calls) + "]"
    if format == "llama3":
        return "; ".join(_compact({"name": n, "parameters": a}) for n, a in calls)
    if format == "qwen3coder":
        value = lambda v: v if isinstance(v, str) else _compact(v)  # noqa: E731
        return "\n".join("<tool_call>\n<function=" + n + ">\n"
                         + "".join(f"<parameter={k}>\n{value(v)}\n</parameter>\n" for k, v in a.items())
                         + "</function>\n</tool_call>" for n, a in calls)
    return _compact(objects[0] if len(objects) == 1 else objects)


# Small models copy examples word for word, so the examples' answers are ones that stay right when
# copied into another conversation: a decline that names no task, a question that names no value.
_DECLINE = "Sorry, I can't do that: none of my tools can."


def render_examples(format: ToolFormat = "json", constrained: bool = True, call_lists: bool = False) -> str:
    """Worked examples: when to call (two at once, one whose result feeds the next), what to do once
    results are in, when to answer directly, when to decline, when to ask. Measured with the bundled 0.5B model (bench tooluse):
    without them it calls a tool for every message. The tools here are imaginary on purpose."""
    def answer(text: str) -> str:
        if constrained and call_lists:
            return _compact([{"name": FINAL_ANSWER, "arguments": {"answer": text}}])
        return _render_call([(FINAL_ANSWER, {"answer": text})], "json") if constrained else text

    def call(*calls: tuple[str, dict[str, Any]]) -> str:
        if constrained and call_lists:  # the form guided decoding allows (constrained.action_schema)
            return _compact([{"name": n, "arguments": a} for n, a in calls])
        return _render_call(list(calls), "json" if constrained else format)

    def results(*pairs: tuple[str, dict[str, Any]]) -> str:
        return "\n".join(f"Tool result for {name}:\n{_compact(output)}" for name, output in pairs)

    # Each shot: the user's message, why, the reply; then (results, why, reply) for every later turn.
    # The later turns show what to do once results are in (measured: shown only first moves, the 0.5B
    # model answered results with the decline shot, or made the same call again).
    # Results with more than one value, all of them in the answer: shown one value a result ("A17 is
    # delivered"), the 0.5B model answered "Oslo is cloudy; Rome is cloudy", leaving out 7 and 19 degrees.
    a17 = {"tracking_number": "A17", "status": "delivered", "weight_kg": 1.4}
    b22 = {"tracking_number": "B22", "status": "in transit", "weight_kg": 3.1}
    dana = {"name": "Dana Kim", "phone": "+1 555 0100"}
    # Calls first, answers last: measured with the 0.5B model, the shots nearest the request weigh most,
    # and with the calling shots last it called a tool for general questions too.
    shots: list[list[tuple[str, str, str]]] = [
        [("Which is heavier, parcel A17 or B22?", "two independent calls at once",
          call(("parcel_status", {"tracking_number": "A17"}), ("parcel_status", {"tracking_number": "B22"}))),
         (results(("parcel_status", a17), ("parcel_status", b22)), "every value of every result goes into the answer",
          answer("A17: delivered, 1.4 kg. B22: in transit, 3.1 kg. So B22 is heavier."))],
        [("Text Dana that I'm running late.", "the text needs Dana's number: find it first",
          call(("find_person", {"name": "Dana"}))),
         (results(("find_person", dana)), "the result gives the value the next call needs",
          call(("send_text", {"to": "+1 555 0100", "text": "I'm running late"}))),
         (results(("send_text", {"status": "sent"})), "done: say what was done",
          answer("Sent to Dana Kim: I'm running late."))],
        [("What is 12 times 4?", "no tool is needed", answer("48"))],
        [("Who wrote Hamlet?", "general knowledge: no tool is needed", answer("William Shakespeare."))],
        [("Check the status of my parcel.", "the tool needs a tracking number the user did not give",
          answer("Which tracking number?"))],
        [("Order me a taxi to the station.", "no tool can order a taxi", answer(_DECLINE))],
    ]
    lines = ["# Examples", "These use imaginary tools (parcel_status, find_person, send_text) to show the form; use only "
             "the tools listed above. Copy values exactly as the user wrote them or a tool returned them; never guess "
             "a value: find it with a tool or ask for it. If no listed tool can do what is asked, say so; do not "
             "call a different tool. Once the results are in, answer with the values they hold.", ""]
    for shot in shots:
        for i, (said, why, reply) in enumerate(shot):
            lines += [f"User: {said}" if i == 0 else f"Results:\n{said}", f"({why})", f"Assistant: {reply}"]
        lines.append("")
    return "\n".join(lines)


def example_lines(system: str) -> str:
    """What the users and the assistant say in the worked examples of a system prompt (render_examples'
    "User: " and "Assistant: " lines), "" when it has none: the wording a small model copies from them."""
    at = system.find("# Examples\n")
    if at < 0:
        return ""
    return "\n".join(line for line in system[at:].splitlines() if line.startswith(("User: ", "Assistant: ")))


_ASKING = ("where", "when", "what", "how", "which", "who")


def question_for(name: str, spec: object) -> str:
    """The question that asks the user for a parameter's value, from its description: "the recipient's
    email address" → "What is the recipient's email address?", "where to start" → "Where to start?";
    "Which origin?" when there is no description. Measured with the 0.5B model: it asks the question
    the harness suggests word for word, and "Which origin?" does not say what the value is."""
    description = spec.get("description") if isinstance(spec, dict) else None
    text = re.split(r",|;|\(| e\.g\.", description[:200])[0].strip(" .,:") if isinstance(description, str) else ""
    if text[1:2].islower():  # "The city name" reads as "the city name" mid-sentence; "IATA code" stays
        text = text[0].lower() + text[1:]
    first = text.split()[0].casefold() if text else ""
    if first in _ASKING:
        asked = re.fullmatch(r"(\w+) (.+) (is|are)", text)  # "what the event is" → "What is the event?"
        return f"{asked[1].capitalize()} {asked[3]} {asked[2]}?" if asked else f"{text[0].upper()}{text[1:]}?"
    if not first or first == name.casefold():
        return f"Which {name.replace('_', ' ')}?"
    if re.fullmatch(r"[\w-]+ (?:code|symbol|id|identifier)", text, re.IGNORECASE):
        # A form and nothing of what it is ("three-letter code, e.g. USD"): the parameter says which. Seen with
        # the 0.5B model: "What's the exchange rate today?" asked back "What is the three-letter code?".
        example = re.search(r"e\.g\.,?\s+([^,;)\s]+)", description or "")
        return f"Which {name.replace('_', ' ')} ({text}{', e.g. ' + example[1] if example else ''})?"
    if first in ("the", "a", "an"):
        return f"What is {text}?"
    plural = first.endswith("s") and not first.endswith(("ss", "us", "is"))  # "words to look for", not "status"
    return f"What {'are' if plural else 'is'} the {text}?"


def render_system(instructions: str, tools: ToolSet | None = None, format: ToolFormat = "hermes",
                  extra_sections: tuple[str, ...] = (), examples: str = "") -> str:
    """The stable system prompt: instructions, tools, examples, then other fixed sections (skill index)."""
    parts = [instructions.strip()]
    if tools is not None and len(tools):
        parts.append(render_tools(tools, format))
        if examples:
            parts.append(examples)
    parts += [s.strip() for s in extra_sections if s.strip()]
    return "\n\n".join(parts)


# Measured with the bundled 0.5B model: without an explicit nudge it calls tools forever.
FOLLOW_UP = ("If the request needs another call (for a part these results do not cover, or with a value "
             "found here), make it now. Otherwise answer with final_answer, copying the exact values from the results.")


def echoes_harness(answer: str, notes: list[str], tools_ran: bool = False, user: str = "") -> bool:
    """True when an answer merely repeats the harness's own text (a nudge, an error, a note). A sentence of a
    note that quotes the ``user``'s words ("saying what the user said: "Friday's game is cancelled"") is theirs.

    A small model sometimes hands a nudge back as its answer ("You already made this exact call...")."""
    said, theirs = _plain(answer), _plain(user[:20_000])
    # Numbers alone are no parroted prose: "123, 456, 7890" is what a note that quoted them asked for
    # ("If you worked it out yourself, give the same answer again"), and was taken for an echo of it.
    if len(said.split()) < 3 or not re.search(r"[^\W\d_]", said):
        return False
    # After results, the examples' decline is never the answer (before them it may well be).
    for note in [*notes, FOLLOW_UP, FOLLOW_UP_FREE, *([_DECLINE] if tools_ran else [])]:
        plain = _plain(note)
        if said in plain:
            return True
        sentences = [s for s in (_plain(x) for x in re.split(r"[.!?:\n]", note))
                     if len(s.split()) >= 5 and s not in theirs]
        if any(s in said for s in sentences) and len(said) < 2 * len(plain):
            return True
    return False


_FILLER = frozenset("your you have been will this that with from just here there done".split())


def restates(answer: str, request: str) -> bool:
    """True when an answer only says the user's request back ("Turned on the living room lights." for
    "Turn on the living room lights"): measured with the 0.5B model, that is how it "does" what no
    tool can do. It adds no word of its own (four letters or more; "turned" counts as "turn") and
    repeats most of the request. "The capital of Norway is Oslo." adds "Oslo": an answer."""
    said, asked = _plain(answer).split(), {w[:4] for w in _plain(request).split()}
    if len(said) < 4 or not asked or said[0] in ("yes", "no"):
        return False
    if any(len(w) >= 4 and w[:4] not in asked and w not in _FILLER for w in said):
        return False
    return len(asked & {w[:4] for w in said}) / len(asked) >= 0.6


def _plain(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.casefold()).split())
FOLLOW_UP_FREE = "Now answer my question in plain text, unless you still need another tool."


def tool_results_message(results: list[ToolResult], role: Literal["user", "tool"] = "user",
                         constrained: bool = True, task: str = "", hint: str = "") -> list[dict[str, Any]]:
    """Tool results as transcript messages.

    ``user`` (the default) puts them in one user turn, each after "Tool result for NAME:", then
    the task again and a nudge: the bundled Qwen model loops on calls when fed ``role: tool``
    messages but answers when results come back as a user turn (measured, see VLLM_NOTES), and
    answers the task rather than a worked example when the task is restated next to the results
    (measured: bench tooluse, the live plan test). ``tool`` gives one OpenAI-style message each.
    ``hint``, a line of the harness's own, goes before the nudge (Techniques.fill, siblings).
    """
    if role == "tool":
        return [{"role": "tool", "name": r.name, "content": r.output} for r in results]
    body = "\n".join(
        f"Tool result for {r.name}{'' if r.ok else ' (error)'}:\n{r.output}" for r in results
    )
    restated = f"The task: {task.strip()[:400]}\n" if task.strip() else ""
    hint = f"{hint.strip()}\n" if hint.strip() else ""
    return [{"role": "user", "content": f"{body}\n\n{restated}{hint}{FOLLOW_UP if constrained else FOLLOW_UP_FREE}"}]


# How the note about unusable calls opens (the chat's recap leaves such notes out).
PARSE_ERRORS_OPENING = "<tool_response>\nYour tool call could not be used:"


def parse_errors_message(errors: list[str], tool_names: list[str]) -> dict[str, Any]:
    """A user turn telling the model what was wrong with its calls, so it can retry."""
    lines = "\n".join(f"- {e}" for e in errors)
    return {"role": "user", "content": (
        f"{PARSE_ERRORS_OPENING}\n{lines}\n"
        f"Available tools: {', '.join(tool_names)}. Reply with a corrected call, or answer in plain text.\n"
        "</tool_response>"
    )}
