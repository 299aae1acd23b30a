"""The calibrated first decision (harness/decide.py): reading the probability of answering, and the agent
making the first action an answer when it is high enough."""

from __future__ import annotations

import json
import math
import time

import pytest
from test_answer_checks import action, agent, answer, offered

from harness.constrained import decline_schema
from harness.decide import ANSWER_AT, DECLINE_AT, UNSURE_AT, answer_probability, decline_probability, probe_options
from harness.refusals import GUESSED
from harness.run import Policy
from scripted import ScriptedServer


def entry(token: str, *top: tuple[str, float]) -> dict:
    top = top or ((token, 1.0),)
    return {"token": token, "logprob": math.log(top[0][1]),
            "top_logprobs": [{"token": t, "logprob": math.log(p) if p else -9999.0} for t, p in top]}


OPEN = [entry("["), entry('{"'), entry("name"), entry('":"')]


@pytest.mark.parametrize("logprobs,tools,expected", [
    (OPEN + [entry("get", ("get", 0.7), ("final", 0.3))], ["get_weather"], 0.3),
    # The quote that opens the name comes with the name's first token.
    ([entry("["), entry('{"'), entry("name"), entry('":'), entry('"get', ('"get', 0.6), ('"final', 0.4))],
     ["get_weather"], 0.4),
    # "f" starts final_answer and fetch: it is no vote for answering; "fin" is.
    (OPEN + [entry("fetch", ("fetch", 0.5), ("f", 0.2), ("fin", 0.3))], ["fetch"], 0.3),
    # A whole-name token, and one that runs past the name.
    (OPEN + [entry("final_answer", ("final_answer", 0.9), ("get", 0.1))], ["get_weather"], 0.9),
    (OPEN + [entry('final_answer"', ('final_answer"', 0.5), ("get", 0.5))], ["get_weather"], 0.5),
    # Spaces around the colon, as another template may write them.
    ([entry("{"), entry('"name"'), entry(": "), entry('"'), entry("final", ("final", 0.8), ("get", 0.2))], ["get_time"], 0.8),
    (OPEN, ["get_weather"], None),  # the name never came
    ([], ["get_weather"], None),
    (None, ["get_weather"], None),
    ("garbage", ["get_weather"], None),
    ([{"token": 3}], ["get_weather"], None),
    (OPEN + [{"token": "get", "top_logprobs": "x"}], ["get_weather"], None),
    # Malformed candidates are skipped, not counted and not raised on.
    (OPEN + [{"token": "get", "top_logprobs": [None, {"token": "final"}, {"token": "final", "logprob": "x"},
                                               {"token": "final", "logprob": float("nan")},
                                               {"token": "final", "logprob": True}, {"token": "fin", "logprob": 0.0}]}],
     ["get_weather"], 1.0),
])
def test_answer_probability(logprobs, tools, expected):
    got = answer_probability(logprobs, tools)
    assert got == expected if expected is None else got == pytest.approx(expected)


@pytest.mark.parametrize("logprobs,expected", [
    (OPEN + [entry("get", ("final", 0.3), ("get", 0.6), ("find", 0.1))], [("get", 0.6), ("final", 0.3), ("find", 0.1)]),
    (OPEN, []), (None, []), ("garbage", []),
])
def test_name_choices_are_read_likeliest_first(logprobs, expected):
    from harness.decide import name_choices

    assert [(t, pytest.approx(p)) for t, p in expected] == name_choices(logprobs)


def test_answer_probability_reads_a_bounded_prefix():
    started = time.perf_counter()
    assert answer_probability([entry("x" * 1000)] * 1_000_000, ["a"]) is None
    assert time.perf_counter() - started < 1


def test_the_probe_is_the_action_cut_short_with_probabilities():
    options = {"max_tokens": 256, "json_schema": {"type": "object"}, "cache_salt": "s"}
    probe = probe_options(options)
    assert probe["max_tokens"] < 16 and probe["json_schema"] == options["json_schema"] and probe["cache_salt"] == "s"
    assert probe["extra"] == {"logprobs": True, "top_logprobs": 20} and options["max_tokens"] == 256


@pytest.mark.parametrize("p,decide,answers", [(0.4, True, True), (ANSWER_AT, True, True), (0.05, True, False),
                                              (0.4, False, False)])
def test_a_likely_answer_is_made_the_first_action(p, decide, answers):
    """With the 0.5B model, "What is the capital of Norway?" put ~30% on answering and called
    get_population: at ANSWER_AT or more the first action is an answer."""
    replies = [answer("Oslo.")] if answers else [action(("get_weather", {"city": "Oslo"})), answer("Oslo: 7 C.")]
    server = ScriptedServer(replies, answer_probabilities=[p])
    # (unfit off: "capital of Norway" is a thing no tool carries, answered whatever the probability)
    result = agent(server, "get_weather", "get_population", decide=decide, unfit=False).run("What is the capital of Norway?")
    # With an answer decided, a second probe reads its opening (decline; this server sends none for it).
    probes = (2 if answers else 1) if decide else 0
    assert len(server.probes) == probes == result.turns[0].probes
    assert offered(server.requests[0]) == ({"final_answer"} if answers else {"get_weather", "get_population", "final_answer"})
    assert result.turns[0].answer_probability == (pytest.approx(p) if decide else None)
    # A probe is a real request: its tokens are the turn's probe_usage and in the run's usage (100 a request),
    # not in the turn's own usage (which compaction and bench prefix read as one request).
    assert result.turns[0].usage.prompt_tokens == 100 and result.turns[0].probe_usage.prompt_tokens == 100 * probes
    assert result.usage.prompt_tokens == 100 * (len(result.turns) + probes)
    if decide:
        assert server.probes[0]["messages"] == server.requests[0]["messages"]  # the same prompt: cached next
        assert server.probes[0]["max_tokens"] < 16 and not server.probes[0]["stream"]
    assert result.text == ("Oslo." if answers else "Oslo: 7 C.")


def test_only_a_runs_first_free_choice_is_probed():
    # After a result, and where the first action must be a call, nothing is probed.
    server = ScriptedServer([action(("get_weather", {"city": "Oslo"})), answer("Oslo: 7 C.")],
                            answer_probabilities=[0.0, 0.9])
    assert agent(server, "get_weather").run("Weather in Oslo?").text == "Oslo: 7 C."
    assert len(server.probes) == 1
    server = ScriptedServer([action(("get_weather", {"city": "Oslo"})), answer("Oslo: 7 C.")], answer_probabilities=[0.9])
    a = agent(server, "get_weather")

    async def run_must_call() -> list:
        return [e async for e in a.loop("Weather in Oslo?", Policy(must_call=True))]

    a._loop().run(run_must_call())
    assert server.probes == [] and offered(server.requests[0]) == {"get_weather"}


def test_without_logprobs_nothing_is_decided():
    # A server that sends no logprobs (an older one, or a proxy that drops them): the action is unchanged.
    server = ScriptedServer([action(("get_weather", {"city": "Oslo"})), answer("Oslo: 7 C.")])
    result = agent(server, "get_weather").run("Weather in Oslo?")
    assert len(server.probes) == 1 and result.turns[0].answer_probability is None
    assert offered(server.requests[0]) == {"get_weather", "final_answer"} and result.text == "Oslo: 7 C."


@pytest.mark.parametrize("logprobs,expected", [
    ([entry(t) for t in ('{"', "name", '":"', "final", "_answer", '","', "arguments", '":{"', "answer", '":"')]
     + [entry("The", ("The", 0.9), ("Sorry", 0.05), ("Sor", 0.03), ("S", 0.02))], 0.08),
    ([entry('{"name":"final_answer","arguments":{"answer":'), entry('"I', ('"I', 0.7), ('"Sorry', 0.3))], 0.3),
    ([entry('{"name":"final_answer","arguments":{"answer":"'), entry("So", ("So", 0.5), ("Sorry", 0.1))], 0.1),  # not "So"
    ([entry('{"name":"final_answer","arguments":{"text":"'), entry("Sorry")], None),  # no answer key
    (None, None),
])
def test_decline_probability(logprobs, expected):
    got = decline_probability(logprobs)
    assert got == expected if expected is None else got == pytest.approx(expected)


@pytest.mark.parametrize("p_decline,decline,declines", [(0.05, True, True), (DECLINE_AT, True, True), (0.01, True, False),
                                                        (0.05, False, False)])
def test_an_answer_likely_to_decline_opens_with_the_decline(p_decline, decline, declines):
    """With the 0.5B model, "Turn on the living room lights." (no tool for it) was answered "Turned on the
    living room lights.", with 2% or more on opening with "Sorry": such an answer now opens "Sorry, I can't"."""
    reply = answer("Sorry, I can't turn on lights: none of my tools can." if declines else "Turned on the lights.")
    server = ScriptedServer([reply], answer_probabilities=[0.6], decline_probabilities=[p_decline])
    # unfit off: the lights are no tool's thing (claims.unfit_object), which declines whatever the odds
    result = agent(server, "play_music", "set_timer", decline=decline, claims=False, echo_guard=False,
                   unfit=False).run("Turn on the living room lights.")
    schema = server.requests[0]["response_format"]["json_schema"]["schema"]
    assert (schema == decline_schema("Sorry, I can't")) is declines
    assert "pattern" in json.dumps(schema) if declines else "pattern" not in json.dumps(schema)
    assert len(server.probes) == (2 if decline else 1)
    assert result.turns[0].decline_probability == (pytest.approx(p_decline) if decline else None)
    assert result.text.startswith("Sorry, I can't") is declines


def test_the_decline_schema_only_admits_an_answer_that_opens_with_it():
    import jsonschema

    schema = decline_schema("Sorry, I can't")
    ok = {"name": "final_answer", "arguments": {"answer": "Sorry, I can't order pizza: none of my tools can."}}
    jsonschema.validate(ok, schema)
    for bad in ({"name": "final_answer", "arguments": {"answer": "Ordered a pizza."}},
                {"name": "get_weather", "arguments": {"city": "Oslo"}}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema)
    # Characters a regular expression would read as syntax are taken literally.
    pattern = decline_schema("Sorry (no tool). I can't")["anyOf"][0]["properties"]["arguments"]["properties"]["answer"]["pattern"]
    assert pattern.startswith(r"^Sorry \(no tool\)\. I can't")


@pytest.mark.parametrize("decline", [True, False])
def test_after_an_answer_that_said_the_request_back_the_next_may_decline(decline):
    """Seen with the 0.5B model: "Turned on the living room lights." (no tool for it), sent back as the
    request said back, then "give the answer if you know it" (the note, parroted)."""
    server = ScriptedServer([answer("Turned on the living room lights."),
                             answer("Sorry, I can't turn lights on: none of my tools can." if decline
                                    else "I turned on the living room lights.")],
                            answer_probabilities=[0.6], decline_probabilities=[0.0, 0.3])
    result = agent(server, "play_music", "set_timer", decline=decline, unfit=False).run(
        "Turn on the living room lights.")
    assert result.turns[0].rejected == "restated"
    second = server.requests[1]["response_format"]["json_schema"]["schema"]
    assert (second == decline_schema("Sorry, I can't")) is decline
    assert result.turns[1].decline_probability == (pytest.approx(0.3) if decline else None)
    assert len(server.probes) == (3 if decline else 1)
    assert result.text.startswith("Sorry, I can't") is decline


@pytest.mark.parametrize("p,unsure,answers", [(0.16, True, True), (UNSURE_AT, True, True), (0.02, True, False),
                                              (0.16, False, False)])
def test_a_guess_after_thinking_of_answering_is_answered_not_asked(p, unsure, answers):
    """Seen with the 0.5B model: "turn the thermostat up to 21 degrees" (no tool for it) gave answering 16%,
    then convert_units with a guessed unit, then (made to ask) "What is the unit to convert from?". A
    request missing a value gave answering 5% or less (benchmark: 26 of 27)."""
    server = ScriptedServer([action(("convert_units", {"value": 21, "from_unit": "celsius", "to_unit": "fahrenheit"})),
                             answer("Sorry, I can't: none of my tools can." if answers else "What is the unit?")],
                            answer_probabilities=[p], decline_probabilities=[0.3])
    result = agent(server, "get_weather", "convert_units", unsure=unsure).run(
        "It's chilly, turn the thermostat up to 21 degrees.")
    refusal = result.turns[0].results[0].output
    assert refusal.startswith(GUESSED) and "from_unit" in refusal
    assert ("say you can't" in refusal) is answers and refusal.endswith('"What is the unit to convert from?"')
    second = server.requests[1]["response_format"]["json_schema"]["schema"]
    assert offered(server.requests[1]) == ({"final_answer"} if answers else {"ask_user"})
    assert (second == decline_schema("Sorry, I can't")) is answers  # and it may decline (0.3 >= DECLINE_AT)
    assert len(server.probes) == (2 if answers else 1)
    assert result.text.startswith("Sorry, I can't") is answers


@pytest.mark.parametrize("task,asks", [
    ("How long does it take to drive there?", True),  # points at a place it does not name
    ("How long does it take to drive?", False),
])
def test_a_request_that_points_at_what_it_does_not_name_is_asked_about(task, asks):
    """Seen with the 0.5B model: "How long does it take to drive there?" gave answering 10%, made-up places
    (refused), then, made to answer, "1.4 hours. So B22 is heavier."."""
    server = ScriptedServer([action(("get_directions", {"origin": "New York City", "destination": "Los Angeles"})),
                             answer("Where to start?") if not asks else action(("ask_user", {"question": "Where to start?"}))],
                            answer_probabilities=[0.10], decline_probabilities=[0.0])
    result = agent(server, "get_directions", "get_weather").run(task)
    assert result.turns[0].results[0].output.startswith(GUESSED)
    assert offered(server.requests[1]) == ({"ask_user"} if asks else {"final_answer"})
    assert result.text == "Where to start?" or not asks


@pytest.mark.parametrize("task,back", [
    ("How long does it take to drive there?", True), ("How far is it to the airport from here?", True),
    ("Play that song I told you about yesterday.", True), ("Get me news on that topic we talked about.", True),
    ("How many people live in Lima, and what's the weather there today?", False),  # Lima is named
    ("Is there a train to Oslo?", False), ("Write 'go there' in French.", False), ("", False),
])
def test_points_back(task, back):
    from harness.claims import points_back

    assert points_back(task) is back
    assert points_back(None) is False  # type: ignore[arg-type]


def test_a_server_that_refuses_the_probe_still_answers():
    """A server started with --max-logprobs below 20 answers the probe with 400: nothing is decided, the
    run goes on, and this agent does not probe again."""
    server = ScriptedServer([action(("get_weather", {"city": "Oslo"})), answer("Oslo: 7 C."), answer("Hi.")],
                            probe_status=400)
    a = agent(server, "get_weather")
    result = a.run("Weather in Oslo?")
    assert result.stop_reason == "final_answer" and result.text == "Oslo: 7 C."
    assert result.turns[0].answer_probability is None and result.turns[0].probes == 0
    assert "400" in (a.probe_error or "") or "logprobs" in (a.probe_error or "")
    assert a.run("Hello").text == "Hi." and len(server.probes) == 1  # not asked again


@pytest.mark.parametrize("p,unfit,declines", [(0.18, True, True), (DECLINE_AT, True, True), (0.01, True, False),
                                              (0.18, False, False)])
def test_an_action_no_tool_does_is_declined(p, unfit, declines):
    """Seen with the 0.5B model: "Reserve a table for 8 people at Casa Lumen in Lisbon" (answering 18%) called
    find_restaurants, and answered with the restaurants it found. No offered tool's text says reserve."""
    replies = [answer("Sorry, I can't reserve tables: none of my tools can.")] if declines else \
        [action(("find_restaurants", {"city": "Lisbon"})), answer("Lisbon: Casa Lumen.")]
    server = ScriptedServer(replies, answer_probabilities=[p], decline_probabilities=[0.0])
    result = agent(server, "find_restaurants", "get_weather", unfit=unfit).run(
        "Reserve a table for 8 people at Casa Lumen in Lisbon tomorrow at 8pm.")
    schema = server.requests[0]["response_format"]["json_schema"]["schema"]
    assert (schema == decline_schema("Sorry, I can't")) is declines
    assert result.turns[0].unfit == ("reserve" if declines else "")
    assert len(server.probes) == 1  # the opening is not probed: it is the decline
    assert result.text.startswith("Sorry, I can't") is declines


@pytest.mark.parametrize("task,tools,p,unfit,first", [
    # About now: no model knows it without a tool, so the answer declines.
    ("What's the air quality index in Paris today?", ("get_weather",), 0.06, True, "decline"),
    ("What's the air quality index in Paris today?", ("get_weather",), 0.06, False, "call"),
    ("What's the air quality index in Paris today?", ("get_weather",), 0.01, True, "call"),  # under DECLINE_AT
    # Knowledge: answered, and the opening is the model's (probed as any answer is).
    ("What is the capital of Norway?", ("get_population", "get_weather"), 0.2, True, "answer"),
    ("What is the capital of Norway?", ("get_population", "get_weather"), 0.2, False, "call"),
    # A word of the request is a tool's: the model decides.
    ("What's the weather in Paris today?", ("get_weather",), 0.06, True, "call"),
])
def test_a_question_for_a_thing_no_tool_carries_is_answered(task, tools, p, unfit, first):
    """Seen with the 0.5B model: "What is the capital of Norway?" (answering 21%) called get_population and
    answered with its number; "What's the air quality index in Paris today?" (6%) called get_weather and
    answered "14", the temperature. No word of either request is a word of the tools offered."""
    replies = {"decline": [answer("Sorry, I can't do that: none of my tools can.")],
               "answer": [answer("Oslo")],
               "call": [action((tools[0], {"city": "Paris"} if "weather" in tools[0] else {"place": "Norway"})),
                        answer("Paris: sunny, 14 C.")]}[first]
    server = ScriptedServer(replies, answer_probabilities=[p], decline_probabilities=[0.0])
    result = agent(server, *tools, unfit=unfit).run(task)
    schema = server.requests[0]["response_format"]["json_schema"]["schema"]
    assert (schema == decline_schema("Sorry, I can't")) is (first == "decline")
    assert (tools[0] in offered(server.requests[0])) is (first == "call")
    assert result.turns[0].unfit == ({"decline": "air quality index"}.get(first, ""))
    assert len(server.probes) == {"decline": 1, "answer": 2, "call": 1}[first]  # an answer's opening is probed
    assert result.turns[0].calls[0].name == ("final_answer" if first != "call" else tools[0])
    if first != "call":
        assert result.text == {"decline": "Sorry, I can't do that: none of my tools can.", "answer": "Oslo"}[first]


@pytest.mark.parametrize("unfit", [True, False])
def test_writing_the_model_does_itself_is_answered_not_declined(unfit):
    """Seen with the 0.5B model: "Rewrite this to sound more polite: 'Send me the file now.'" (answering 12%)
    called send_email, then looked up a contact named 'file'."""
    replies = [answer("Could you please send me the file?")] if unfit else \
        [action(("send_email", {"to": "a@b.org", "subject": "File", "body": "Send me the file now."})), answer("Sent.")]
    server = ScriptedServer(replies, answer_probabilities=[0.12], decline_probabilities=[0.5])
    result = agent(server, "send_email", "get_contact", unfit=unfit).run(
        "Rewrite this to sound more polite: 'Send me the file now.'")
    assert offered(server.requests[0]) == ({"final_answer"} if unfit else {"send_email", "get_contact", "final_answer"})
    assert len(server.probes) == 1  # the opening is not probed: "Sorry" (50% here) is no answer to writing
    if unfit:
        assert result.text == "Could you please send me the file?" and result.turns[0].unfit == ""


@pytest.mark.parametrize("unfit", [True, False])
def test_a_past_days_value_no_tool_takes_a_date_for_is_declined(unfit):
    """Seen with the 0.5B model: "What was Tesla's closing price on 3 January 2020?" (answering 9%) called
    get_stock_price with TSLA (refused: the user said "Tesla"), then answered "31.45"."""
    replies = [answer("Sorry, I can't look up past prices: none of my tools can.")] if unfit else \
        [action(("get_stock_price", {"symbol": "TSLA"})), answer("31.45")]
    server = ScriptedServer(replies, answer_probabilities=[0.09], decline_probabilities=[0.0])
    result = agent(server, "get_stock_price", "get_news", unfit=unfit).run("What was Tesla's closing price on 3 January 2020?")
    schema = server.requests[0]["response_format"]["json_schema"]["schema"]
    assert (schema == decline_schema("Sorry, I can't")) is unfit
    assert result.turns[0].unfit == ("3 January 2020" if unfit else "")


def test_an_action_a_tool_does_is_not_declined():
    server = ScriptedServer([action(("set_timer", {"minutes": 20})), answer("Timer: 20 minutes.")],
                            answer_probabilities=[0.18])
    result = agent(server, "set_timer", "play_music").run("Start a 20 minute timer.")
    assert result.turns[0].unfit == "" and result.text == "Timer: 20 minutes."


@pytest.mark.parametrize("task,shapes,calls", [
    ("What's NVDA trading at?", True, True),
    ("What's NVDA trading at?", False, False),
    ("What does HTTP stand for?", True, False),  # a code of that form, but no offered tool takes one
    ("What's Nvidia trading at?", True, False),  # a name, not the code
])
def test_a_code_only_one_tool_takes_is_looked_up_not_answered(task, shapes, calls):
    """Seen with the 0.5B model: "What's NVDA trading at?" gave answering 82%, and the answer "NVDA trading
    at the stock market."; NVDA has the form of get_stock_price's symbol ("e.g. AAPL")."""
    names = ("get_stock_price", "get_news") if "trading" in task else ("get_definition", "search_notes")
    replies = [action(("get_stock_price", {"symbol": "NVDA"})), answer("NVDA: 139.85 USD.")] if calls else \
        [answer("Hypertext Transfer Protocol." if "HTTP" in task else "NVDA is a ticker.")]
    server = ScriptedServer(replies, answer_probabilities=[0.82], decline_probabilities=[0.0])
    result = agent(server, *names, shapes=shapes).run(task)
    assert offered(server.requests[0]) == ({"get_stock_price"} if calls else {"final_answer"})
    assert result.turns[0].coded == ("get_stock_price" if calls else None)
    if calls:
        assert result.turns[0].results[0].output == '{"currency": "USD", "price": 139.85, "symbol": "NVDA"}'
    assert result.text == ("NVDA: 139.85 USD." if calls else "Hypertext Transfer Protocol." if "HTTP" in task
                           else "NVDA is a ticker.")


@pytest.mark.parametrize("unfit", [True, False])
def test_a_request_that_opens_with_a_tools_verb_is_a_call(unfit):
    """Seen with the 0.5B model: "Define 'sonder', and translate 'good morning' into German." gave answering
    33%, and the answer "Good morning, Sonder.". A part of it opens with translate's verb."""
    replies = [action(("get_definition", {"word": "sonder"}), ("translate", {"text": "good morning", "target_language": "German"})),
               answer("sonder: the awareness that others have lives as vivid as yours. German: Guten Morgen.")] \
        if unfit else [answer("Good morning, Sonder.")]
    server = ScriptedServer(replies, answer_probabilities=[0.33], decline_probabilities=[0.0])
    result = agent(server, "get_definition", "translate", unfit=unfit, coverage=False).run(
        "Define 'sonder', and translate 'good morning' into German.")
    assert offered(server.requests[0]) == ({"get_definition", "translate"} if unfit else {"final_answer"})
    assert result.turns[0].coded == ("translate" if unfit else None)
    assert result.text.startswith("sonder: " if unfit else "Good morning")


def test_a_question_word_that_asks_for_a_tool_makes_the_first_action_a_call():
    """Seen with the 0.5B model: "What do 'petrichor' and 'apricity' mean?" gave answering 54%, and was answered
    from nothing ("Petrichor: a type of plant")."""
    server = ScriptedServer([action(("get_definition", {"word": "petrichor"}), ("get_definition", {"word": "apricity"})),
                             answer("petrichor: the smell of rain; apricity: the warmth of the winter sun")],
                            answer_probabilities=[0.54], decline_probabilities=[0.0])
    agent(server, "get_definition", "translate").run("What do 'petrichor' and 'apricity' mean?")
    assert "final_answer" not in offered(server.requests[0]) and "get_definition" in offered(server.requests[0])


def test_a_call_the_task_says_nothing_of_gives_way_to_the_tool_a_question_word_asks_for():
    """Seen with the 0.5B model: "Which is warmer right now, Paris or Madrid?" called get_time for both."""
    server = ScriptedServer([action(("get_time", {"city": "Paris"})),
                             action(("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Madrid"})),
                             answer("Madrid: 24 C, Paris: 14 C. Madrid is warmer.")],
                            answer_probabilities=[0.1])
    result = agent(server, "get_time", "get_weather").run("Which is warmer right now, Paris or Madrid?")
    refusal = result.turns[0].results[0].output
    assert refusal.startswith("Not run: the task asks for what get_weather gives") and not result.turns[0].results[0].ok
    assert offered(server.requests[1]) == {"get_weather"}
    assert [r.name for t in result.turns for r in t.results if r.ok] == ["get_weather", "get_weather"]
    # A call the task does speak of runs: "what time is it" is get_time's.
    server = ScriptedServer([action(("get_time", {"city": "Sydney"})), answer("23:40")], answer_probabilities=[0.1])
    result = agent(server, "get_time", "get_weather").run("In Sydney: what time is it, and how warm is it?")
    assert result.turns[0].results[0].ok


def test_a_question_word_with_nothing_to_look_up_is_left_to_the_answer():
    """"What does this word mean?" names no word: answering (which asks) stays on offer (a review found it forced
    to call get_definition, which must then make a word up)."""
    server = ScriptedServer([answer("Which word?")], answer_probabilities=[0.9], decline_probabilities=[0.0])
    result = agent(server, "get_definition", "translate").run("What does this word mean?")
    assert offered(server.requests[0]) == {"final_answer"} and result.text == "Which word?"


def test_a_thing_no_tool_works_is_declined():
    """Seen with the 0.5B model: "Start the dishwasher on the eco programme." started a timer of a made-up length
    (set_timer's text says "start"), then asked how long."""
    server = ScriptedServer([answer("Sorry, I can't start the dishwasher.")], answer_probabilities=[0.1],
                            decline_probabilities=[0.0])
    result = agent(server, "set_timer", "create_reminder").run("Start the dishwasher on the eco programme.")
    assert server.requests[0]["response_format"]["json_schema"]["schema"] == decline_schema("Sorry, I can't")
    assert result.turns[0].unfit == "the dishwasher" and result.text.startswith("Sorry, I can't")
