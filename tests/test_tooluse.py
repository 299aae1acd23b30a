"""The tool-use benchmark's data and scoring, and the techniques' pure parts (no server)."""

from __future__ import annotations

import time

import pytest

from harness.constrained import action_schema
from harness.grounding import invented_numbers, ungrounded_arguments
from harness.prompt import FOLLOW_UP, echoes_harness, render_examples
from harness.techniques import Techniques
from harness.tooluse import CATEGORIES, Case, ExpectedCall, load_cases, load_tools, score, values_match
from harness.tools import ToolSet

TOOLS = load_tools()


def case(category: str, calls=(), answer=(), answer_any=()) -> Case:
    return Case("t", category, ("get_weather",), "q", tuple(ExpectedCall(n, a) for n, a in calls),
                tuple(answer), tuple(answer_any))


def test_the_data_has_every_category_and_at_least_200_cases():
    cases = load_cases()
    assert len(cases) >= 200
    assert {c.category for c in cases} == set(CATEGORIES)
    assert len({c.id for c in cases}) == len(cases)
    for c in cases:
        for call in c.calls:
            assert call.name in c.tools and TOOLS[call.name].parameters["properties"].keys() >= call.arguments.keys()


def test_tools_answer_from_their_tables_and_fill_defaults():
    assert TOOLS["get_weather"].fn(city="ROME!")["temperature"] == 19
    assert TOOLS["get_weather"].fn(city="Atlantis")["city"] == "Atlantis"


@pytest.mark.parametrize("expected,actual,ok", [
    ("Oslo", "oslo", True), ("New York", "new-york", True), ("Oslo", "Osloo", False),
    (3, "3", True), (3, 3.0, True), (2.5, 2.4, False), ("*", "anything", True), ("*", "", False),
    (["a", "b"], ["A", "b"], True), (True, "true", True),
])
def test_values_match(expected, actual, ok):
    assert values_match(expected, actual) is ok


@pytest.mark.parametrize("made,ok,why", [
    ([("get_weather", {"city": "rome"})], True, "ok"),
    ([("get_weather", {"city": "Rome", "unit": "celsius"})], True, "ok"),  # an optional at its default
    ([("get_weather", {"city": "Rome", "unit": "fahrenheit"})], False, "missing call"),
    ([("get_weather", {"city": "Paris"})], False, "missing call"),
    ([], False, "missing call"),
    ([("get_weather", {"city": "Rome"}), ("get_weather", {"city": "Oslo"})], False, "unexpected call"),
])
def test_calls_are_scored_by_name_and_values(made, ok, why):
    passed, reason = score(case("single", [("get_weather", {"city": "Rome"})], ["19"]), made, "19 C", True, TOOLS)
    assert passed is ok and reason.startswith(why)


def test_parallel_calls_are_order_free():
    c = case("parallel", [("get_weather", {"city": "Rome"}), ("get_weather", {"city": "Paris"})], ["14", "19"])
    made = [("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Rome"})]
    assert score(c, made, "Paris 14, Rome 19", True, TOOLS) == (True, "ok")


@pytest.mark.parametrize("category,answer,ok", [
    ("single", "Rome is cloudy, 25 C", False),  # an invented value fails the answer check
    ("missing_tool", "Sorry, I can't book hotels.", True),
    ("missing_tool", "Here is your booking.", False),
    ("missing_argument", "Which city?", True),
    ("missing_argument", "The weather is nice.", False),
    ("no_tool", "", False),
])
def test_answers_are_checked(category, answer, ok):
    calls = [("get_weather", {"city": "Rome"})] if category == "single" else []
    c = case(category, calls, ["19"] if category == "single" else [],
             ["city"] if category == "missing_argument" else [])
    assert score(c, list(calls), answer, True, TOOLS)[0] is ok


@pytest.mark.parametrize("answer,ok", [
    ("There are 7 continents.", True),
    ("There are seven continents.", True),  # the number's word is the same fact
    ("Seven.", True),
    ("There are seventy continents.", False),  # a whole word only
    ("There are five continents.", False),
    ("twenty-seven", False),  # a number word is read with the words around it
    ("seventy seven dwarfs", False),
    ("seven hundred", False),
])
def test_a_number_is_said_in_digits_or_its_word(answer, ok):
    assert score(case("no_tool", answer=["7"]), [], answer, True, TOOLS)[0] is ok
    assert score(case("no_tool", answer_any=["7", "Asia"]), [], answer, True, TOOLS)[0] is ok


@pytest.mark.parametrize("text,numbers", [
    ("twenty seven", {27}), ("two hundred and five", {205}), ("three thousand four hundred", {3400}),
    ("one and two", {1, 2}), ("seven days and ten hours", {7, 10}), ("and hundred thousand", set()),
    ("twenty one two", {21, 2}), ("twenty eleven", {20, 11}), ("seven hundred", {700}),
    ("", set()), ("no numbers here", set()),
])
def test_spoken_numbers(text, numbers):
    from harness.tooluse import spoken_numbers
    assert spoken_numbers(text) == numbers


def test_says_never_raises_and_is_linear():
    from harness.tooluse import says, spoken_numbers
    assert says("\u1369", "x") is False and says("05", "five") is True  # an Ethiopic digit; a leading zero
    started = time.perf_counter()
    assert spoken_numbers("twenty " * 200_000) == {20} and says("7", "seven " * 200_000) is True
    assert time.perf_counter() - started < 5


def test_no_answer_fails():
    assert score(case("no_tool"), [], "", False, TOOLS) == (False, "no final answer")


WEATHER = TOOLS["get_weather"].parameters


@pytest.mark.parametrize("arguments,context,guessed", [
    ({"city": "London"}, "What's the weather like?", ["city"]),
    ({"city": "Oslo"}, "weather in oslo please", []),
    ({"city": "Oslo", "unit": "fahrenheit"}, "weather in Oslo", []),  # closed choices are not checked
    ({"city": "New York"}, "is it cold in new york?", []),
])
def test_grounding_of_arguments(arguments, context, guessed):
    assert ungrounded_arguments(arguments, WEATHER, context) == guessed


CONVERT = TOOLS["convert_currency"].parameters


@pytest.mark.parametrize("to,context,guessed", [
    ("GBP", "amazon share price in british pounds?", []),  # a country's letters, then the unit's
    ("NOK", "What's that in Norwegian kroner?", []),  # initials
    ("GBP", "What's that in pounds?", ["to_currency"]),  # no adjective before it
    ("CHF", "What's that in Swiss francs?", ["to_currency"]),  # too far from the words: a guess
    ("EUR", "Convert 100 dollars for me", ["to_currency"]),
    ("EUR", "Convert it for me at the usual rate.", ["to_currency"]),  # "usual rate" is no currency
    ("GBP", "Convert it, my boss paid half.", ["to_currency"]),
])
def test_currency_codes_said_in_words(to, context, guessed):
    arguments = {"amount": 100, "from_currency": "USD", "to_currency": to}
    assert ungrounded_arguments(arguments, CONVERT, context + " 100 USD") == guessed


def test_an_address_built_from_the_users_word_is_a_guess():
    """Seen with the 0.5B model: "pls email tomas ..." sent to "Tomas@workplace.com" with no lookup."""
    schema = TOOLS["send_email"].parameters
    said = "pls email tomas that im out sick today"
    args = {"to": "Tomas@workplace.com", "subject": "Out sick", "body": "I am out sick today."}
    assert ungrounded_arguments(args, schema, said) == ["to"]
    assert ungrounded_arguments({**args, "to": "t.novak@example.cz"}, schema, said + ' {"email": "t.novak@example.cz"}') == []
    free = {"properties": {"v": {"type": "string"}}, "required": ["v"]}
    assert ungrounded_arguments({"v": "notes/q3.md"}, free, "open q3.md in my notes folder") == []
    # A path or URL may hold words the user never said: only an address is checked as one token.
    assert ungrounded_arguments({"v": "todo.txt"}, free, "write my todo list to a file") == []
    assert ungrounded_arguments({"v": "https://example.com"}, free, "open example.com") == []


def test_a_date_and_time_nobody_gave_is_a_guess():
    """Seen with the 0.5B model: "Remind me to call mum." ran with when "2026-12-01 10:00 AM"."""
    schema = TOOLS["create_reminder"].parameters
    assert ungrounded_arguments({"text": "Call mum", "when": "2026-12-01 10:00 AM"}, schema, "Remind me to call mum.") == ["when"]
    assert ungrounded_arguments({"text": "Submit it", "when": "2026-12-01 09:00"}, schema,
                                "Remind me on 2026-12-01 at 09:00 to submit it") == []
    assert ungrounded_arguments({"text": "Call the plumber", "when": "tomorrow 8am"}, schema,
                                "Remind me tomorrow at 8am to call the plumber.") == []
    # Rewritten from what the user said: a number in common is enough.
    assert ungrounded_arguments({"text": "Call", "when": "2026-12-01T10:00:00"}, schema, "Call on 2026-12-01 at 10:00") == []


@pytest.mark.parametrize("text,said,guessed", [
    # Seen with the 0.5B model: "Remind me tomorrow morning." ran (refused for the time) with this text.
    ("Tomorrow morning, I'll be at work.", "Remind me tomorrow morning.", ["text", "when"]),
    ("Call mum", "Remind me tomorrow morning to call mum.", ["when"]),
    ("Call the plumber tomorrow morning", "Remind me tomorrow morning to call the plumber.", ["when"]),
    ("Tomorrow morning", "Remind me tomorrow morning.", ["when"]),  # the user's words only: asked for when
    ("Pick up the kids on Friday", "Remind me on Friday to pick up the kids", ["when"]),
])
def test_a_text_that_says_only_when_is_a_guess(text, said, guessed):
    schema = TOOLS["create_reminder"].parameters
    assert ungrounded_arguments({"text": text, "when": "2026-12-01 14:00"}, schema, said) == guessed
    # A tool with no time to take: its text's words of time are its own ("See you on Friday" in an email body).
    email = TOOLS["send_email"].parameters
    assert ungrounded_arguments({"to": "a@b.c", "subject": "Friday", "body": "See you on Friday at the match!"}, email,
                                "Email a@b.c about Friday") == []
    # A parameter that takes a time keeps its words of time.
    assert ungrounded_arguments({"text": "Call mum", "when": "tomorrow morning"}, schema, "Remind me tomorrow morning to call mum") == []
    assert ungrounded_arguments({"text": "Call", "when": "2026-12-01 10:00"}, schema, "Call tomorrow at 10am") == []


def test_grounding_of_numbers_and_codes():
    schema = TOOLS["convert_currency"].parameters
    assert ungrounded_arguments({"amount": 30, "from_currency": "EUR", "to_currency": "USD"}, schema,
                                "convert 30 euros to usd") == []
    assert ungrounded_arguments({"amount": 10, "from_currency": "EUR", "to_currency": "USD"}, schema,
                                "convert euros to usd") == ["amount"]


def test_a_code_made_of_the_users_words_is_grounded():
    """Seen with the 0.5B model: "100 US dollars" called with from_currency "USD" was refused ("the user
    wrote 'US'"), and it then answered "100 USD: 1.4 euros." with no call."""
    schema = TOOLS["convert_currency"].parameters
    said = "How much is 100 US dollars in Norwegian kroner?"
    assert ungrounded_arguments({"amount": 100, "from_currency": "USD", "to_currency": "NOK"}, schema, said) == []
    assert ungrounded_arguments({"amount": 100, "from_currency": "GBP", "to_currency": "NOK"}, schema, said) == \
        ["from_currency"]
    free = {"properties": {"v": {"type": "string"}}, "required": ["v"]}
    assert ungrounded_arguments({"v": "NYC"}, free, "weather in New York City") == []
    assert ungrounded_arguments({"v": "LA"}, free, "Lisbon airport") == ["v"]  # two letters: too easily made up
    assert ungrounded_arguments({"v": "SFO"}, free, "fly me somewhere") == ["v"]
    # Initials are read only for a value in capitals: "Tom" is no initials of "to our meeting".
    assert ungrounded_arguments({"v": "Tom"}, free, "who is coming to our meeting") == ["v"]
    # The first word may give letters from inside it, in order: JPY for "Japanese yen" (seen refused, then asked
    # for). GBP for "british pounds" too: a country's two letters, the adjective's first among them, then the
    # unit's (seen refused, and then "What is the three-letter code?" asked of a user who had said it). Not JPY
    # for "yen" alone.
    assert ungrounded_arguments({"v": "JPY"}, free, "one NVDA share in Japanese yen") == []
    assert ungrounded_arguments({"v": "GBP"}, free, "share price in british pounds") == []
    assert ungrounded_arguments({"v": "JPY"}, free, "how many yen") == ["v"]


def test_initials_are_read_in_linear_time():
    free = {"properties": {"v": {"type": "string"}}, "required": ["v"]}
    said = "a " * 50_000
    started = time.perf_counter()
    assert ungrounded_arguments({"v": "AAAAAB"}, free, said) == ["v"]
    assert time.perf_counter() - started < 2


def test_long_free_text_is_the_models_own():
    schema = TOOLS["send_email"].parameters
    args = {"to": "alice.moreau@example.org", "subject": "Moved", "body": "The meeting moved to three o'clock."}
    assert ungrounded_arguments(args, schema, 'Email Alice. {"email": "alice.moreau@example.org"}') == ["subject"]


def test_invented_numbers_in_an_answer():
    context = '{"city": "Rome", "temperature": 19}'
    assert invented_numbers("Rome is 25 C", context) == ["25"]
    assert invented_numbers("Rome is 19 C, 2 days", context) == []


def test_grounding_is_linear():
    context = "word " * 200_000
    assert ungrounded_arguments({"city": "a" * 100_000}, WEATHER, context) == ["city"]


@pytest.mark.parametrize("answer,echo", [
    (FOLLOW_UP, True),
    ("Not run: city='Paris' is a guess.", True),  # a refusal in this run's results
    ("Rome is warmer (19 C).", False),
    ("ok", False),
])
def test_echo_guard(answer, echo):
    assert echoes_harness(answer, ["Not run: city='Paris' is a guess."]) is echo


def test_numbers_a_note_quoted_are_no_echo_of_it():
    """Seen with the 0.5B model: told "Your answer says 123, 456, 7890, ... If you worked it out yourself,
    give the same answer again", it did, and was told it repeated the note."""
    note = ("Your answer says 123, 456, 7890, which neither the user nor a tool gave. If a tool can look it up, "
            "call it. If you worked it out yourself, give the same answer again.")
    assert not echoes_harness("123, 456, 7890", [note])
    assert not echoes_harness("123-456-7890.", [note])
    assert echoes_harness("which neither the user nor a tool gave", [note])


def test_parallel_action_schema_is_a_list_of_actions():
    tools = ToolSet([TOOLS["get_weather"]])
    assert "anyOf" in action_schema(tools) and action_schema(tools).get("type") != "array"
    listed = action_schema(tools, parallel=True)
    names = {o["properties"]["name"]["const"] for o in listed["items"]["anyOf"]}
    assert listed["type"] == "array" and listed["maxItems"] == 4 and names == {"get_weather", "final_answer"}


def test_after_a_guess_the_tool_is_withheld_and_the_answer_must_ask():
    from harness.agent import Agent
    from harness.client import AsyncClient

    agent = Agent(client=AsyncClient("http://127.0.0.1:9"), tools=[TOOLS["get_weather"], TOOLS["get_time"]])
    schema = agent._action_schema((), False, ("get_weather",))
    names = {o["properties"]["name"]["const"] for o in schema["items"]["anyOf"]}
    assert names == {"get_time", "ask_user"}


def test_examples_are_byte_stable_and_follow_the_format():
    assert render_examples("json", True) == render_examples("json", True)
    assert '{"name":"final_answer","arguments":{"answer":"48"}}' in render_examples("json", True)
    assert "<tool_call>" in render_examples("hermes", False)


def test_techniques_switch_off_by_name():
    assert Techniques().without("examples").examples is False
    with pytest.raises(ValueError, match="unknown technique"):
        Techniques().without("magic")


def test_sample_takes_n_per_category_spread_over_the_file():
    from harness.tooluse import sample

    cases = load_cases()
    picked = sample(cases, 3)
    assert len(picked) == 3 * len(CATEGORIES) and len({c.id for c in picked}) == len(picked)
    assert sample(cases, 3) == picked and sample(cases, None) == cases


def test_a_phrase_the_model_composes_is_not_a_guess():
    schema = {"properties": {"text": {"type": "string"}}, "required": ["text"]}
    assert ungrounded_arguments({"text": "Ada likes tea."}, schema, "Remember: I like tea.") == []
    assert ungrounded_arguments({"text": "Ada Lovelace"}, schema, "Remember: I like tea.") == ["text"]
@pytest.mark.parametrize("value,said,composed", [
    ("I'm ordering a taxi to the station.", "Send an email to alice.moreau@example.org.", True),
    ("I'm running late.", "Translate this into Spanish.", True),
    ("I'm running late.", "Email Bob that I'm running late.", False),  # the user's words
    ("Please send the Q3 numbers.", "Email Priya asking for the Q3 numbers.", False),  # one of theirs is enough
    ("Hello, how are you?", "Translate this into Spanish.", False),  # the model's own, not the examples'
    ("Late.", "Translate this into Spanish.", False),  # one word says too little
])
def test_a_text_made_of_the_examples_words_and_none_of_the_users(value, said, composed):
    from harness.grounding import example_wording
    from harness.prompt import example_lines

    examples = example_lines(render_examples("json", True, True))
    schema = {"properties": {"body": {"type": "string"}}, "required": ["body"]}
    assert example_wording({"body": value}, schema, said, examples) == (["body"] if composed else [])


def test_example_wording_never_raises():
    from harness.grounding import example_wording

    for arguments, schema in [(None, {}), ({"a": "x y"}, None), ({"a": ["x"]}, {"properties": {"a": {}}, "required": [["a"]]}),
                              ({"a": "taxi station"}, {"properties": "x", "required": "a"})]:
        assert example_wording(arguments, schema, "", "taxi station") == []  # type: ignore[arg-type]


def test_example_lines_are_what_users_and_the_assistant_say():
    from harness.prompt import example_lines

    lines = example_lines("You are helpful.\n\n" + render_examples("json", True, True)).splitlines()
    assert lines and all(line.startswith(("User: ", "Assistant: ")) for line in lines)
    assert "User: Order me a taxi to the station." in lines and example_lines("No examples here.") == ""


@pytest.mark.parametrize("value,context,close", [
    ("Lisboa", "What's the airport code for Lisbon?", "Lisbon"),
    ("Londres", "weather in Rome?", None),
    ("New Yrok", "time in New York please", "New York"),
])
def test_a_paraphrased_value_is_pointed_at_what_the_user_wrote(value, context, close):
    from harness.grounding import close_words

    assert close_words(value, context) == close


@pytest.mark.parametrize("arguments,ok", [
    ({"minutes": 9, "label": "9 minutes"}, True),  # an optional value made of the user's words
    ({"minutes": 9, "label": "Pasta"}, False),  # one the model made up
])
def test_optional_arguments_without_a_default(arguments, ok):
    c = Case("t", "single", ("set_timer",), "Set a timer for 9 minutes.",
             (ExpectedCall("set_timer", {"minutes": 9}),), ("9",))
    assert score(c, [("set_timer", arguments)], "Timer set: 9 minutes", True, TOOLS)[0] is ok


ANSWER = '[{"name":"final_answer","arguments":{"answer":"Rome: 19 \\u00b0C, \\"cloudy\\" \\ud83d\\ude00\\nok"}}]'


@pytest.mark.parametrize("split", range(1, len(ANSWER)))
def test_final_answer_streams_whole_at_any_split(split):
    from harness.constrained import FinalAnswerStream

    stream = FinalAnswerStream()
    got = stream.feed(ANSWER[:split]) + stream.feed(ANSWER[split:])
    assert got == 'Rome: 19 °C, "cloudy" 😀\nok' == stream.text


@pytest.mark.parametrize("raw", ['{"name":"final_answer","arguments":{"answer":"x\\uZZZZ y\\ud800"}}',
                                 '[{"name":"get_weather","arguments":{"city":"' + "a" * 1000 + '"}}]'])
def test_final_answer_stream_never_raises(raw):
    from harness.constrained import FinalAnswerStream

    stream = FinalAnswerStream()
    for ch in raw:
        stream.feed(ch)


@pytest.mark.timeout(60)
def test_final_answer_stream_is_linear():
    from harness.constrained import FinalAnswerStream

    stream = FinalAnswerStream()
    stream.feed('{"name":"final_answer","arguments":{"answer":"')
    for _ in range(500_000):
        stream.feed("abcd")
    assert len(stream.text) == 2_000_000


def test_a_case_record_holds_the_transcript_and_the_verdict():
    """--transcripts: each case's messages after the system prompt, its calls and why it passed or failed."""
    import asyncio

    from harness.agent import Agent
    from harness.techniques import Techniques
    from harness.tooluse import run_case
    from scripted import ScriptedServer, action, answer

    server = ScriptedServer([action(("get_weather", {"city": "Oslo"})), answer("Oslo: 7 C, cloudy.")],
                            answer_probabilities=[0.03])
    oslo = next(c for c in load_cases() if c.id == "single-weather-oslo")
    outcome = asyncio.run(run_case(oslo, TOOLS, lambda tools: Agent(
        tools, client=server.client(), constrained=True,
        techniques=Techniques(**{n: n in ("decide", "parallel") for n in Techniques.names()}))))
    record = outcome.record()
    assert (record["id"], record["category"], record["calls"]) == ("single-weather-oslo", "single",
                                                                    [["get_weather", {"city": "Oslo"}]])
    assert [m["role"] for m in record["messages"]] == ["user", "assistant", "user", "assistant"]
    assert record["messages"][0]["content"] == oslo.user and "Oslo" in record["messages"][2]["content"]
    assert record["passed"] == outcome.passed and record["why"] == outcome.why
    assert record["answer_probability"] == pytest.approx(0.03) and record["decline_probability"] is None
    assert record["name_choices"][0][0] == "get" and record["name_choices"][0][1] == pytest.approx(0.97)
    assert record["error"] is None  # a run that stopped on an error says why (a timeout under load)


def test_unaided_runs_the_model_alone():
    """--unaided: each case's message with nothing offered, as plain chat, scored like any run; the other
    configurations keep their tools."""
    import asyncio

    from harness.tooluse import UNAIDED, agent_for, configurations, run_case
    from scripted import Reply, ScriptedServer

    configs = configurations(False, False, (), unaided=True)
    assert list(configs) == ["constrained", UNAIDED]
    assert UNAIDED in configurations(True, False, (), unaided=True) and UNAIDED not in configurations(True, False, ())
    norway = next(c for c in load_cases() if c.id == "no_tool-capital-norway")
    server = ScriptedServer([Reply("The capital of Norway is Oslo.")])
    outcome = asyncio.run(run_case(norway, TOOLS, lambda tools: agent_for(tools, server.client(), UNAIDED,
                                                                           configs[UNAIDED])))
    assert (outcome.passed, outcome.answer, outcome.calls) == (True, "The capital of Norway is Oslo.", [])
    request, = server.requests
    assert "response_format" not in request and not server.probes  # no grammar, no decision probes
    assert not any("get_population" in str(m["content"]) for m in request["messages"])  # no tool in the prompt
    assert request["messages"][-1] == {"role": "user", "content": norway.user}
    kept = agent_for(ToolSet([TOOLS[n] for n in norway.tools]), server.client(), "constrained", configs["constrained"])
    assert kept.tools.names == list(norway.tools)
    assert configs[UNAIDED] == {UNAIDED: True}  # each case's agent took a copy of its configuration
