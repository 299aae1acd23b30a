"""The techniques that check a run's values against what was said: an answer that leaves a result
unused, a value in the wrong form for its parameter, optional values nobody gave (no live server)."""

from __future__ import annotations

import dataclasses
import json
import time

import pytest

from harness.agent import Agent
from harness.grounding import (copied_arguments, made_codes, expected_form, found_value, invented_optional, misshapen_arguments, provider,
                               relabelled,
                               result_used)
from harness.prompt import question_for, render_examples
from harness.refusals import GUESSED
from harness.techniques import Techniques
from harness.tools import Tool
from harness.tooluse import load_tools
from scripted import ScriptedServer, action, answer, offered

TOOLS = load_tools()
WEATHER = '{"city": "Paris", "temperature": 14, "conditions": "sunny"}'


def answering(name: str, output: str) -> Tool:
    """A copy of a bench tool that returns ``output`` whatever it is called with (the shared one is left as it is)."""
    return dataclasses.replace(TOOLS[name], fn=lambda **_: output)


def agent(server: ScriptedServer, *names: str, **techniques: bool) -> Agent:
    return Agent([TOOLS[n] for n in names], client=server.client(), constrained=True,
                 techniques=Techniques(**techniques))


# --- an answer must use what the tools returned -----------------------------------------------------


@pytest.mark.parametrize("output,given,text,used", [
    (WEATHER, "weather in Paris", "Paris is 14 C and sunny.", True),
    (WEATHER, "weather in Paris", "It is sunny in Paris.", True),
    (WEATHER, "which is warmer, Paris or Madrid", "Madrid is warmer than Paris.", False),  # nothing of its own
    ('{"city": "London", "time": "12:40"}', "time in London", "It is 12:40 in London.", True),
    ('{"city": "London", "time": "12:40"}', "time in London", "It is 07:40.", False),
    ('{"status": "sent", "to": "a@b.org"}', '{"to": "a@b.org"}', "Done.", True),  # an acknowledgement
    ('{"status": "ok"}', "x", "Done.", True),
    ("Casa Lumen and The Copper Pot are open late", "restaurants", "Try Casa Lumen.", True),
    ("Casa Lumen and The Copper Pot are open late", "restaurants", "There are some.", False),
    ('{"name": "Bob", "email": "bob.l@example.net"}', "Bob", '{"to":"bob.l@example.net"}', True),  # a later call
    ('{"population": 5594000}', "Norway", "Norway has 5594000 people.", True),
    ("", "x", "anything", True),  # nothing of its own: never sent back for it
    ("Paris Oslo", "Paris and Oslo", "anything", True),
])
def test_result_used(output, given, text, used):
    assert result_used(output, given, text) is used


def test_result_used_is_linear_and_never_raises():
    big = json.dumps({"items": [{"v": i, "w": f"word{i}"} for i in range(50_000)]})
    started = time.perf_counter()
    assert result_used(big, "x", "nothing " * 50_000) is False
    assert result_used("[" * 100_000, "x", "y") in (True, False)
    assert time.perf_counter() - started < 5


def test_an_answer_that_leaves_a_result_out_is_sent_back_once():
    server = ScriptedServer([action(("get_weather", {"city": "Oslo"}), ("get_weather", {"city": "Rome"})),
                             answer("Oslo is 7 C."), answer("Oslo is 7 C."), ])
    result = agent(server, "get_weather").run("Weather in Oslo and in Rome?")
    assert result.stop_reason == "final_answer" and result.text == "Oslo is 7 C."
    assert [t.rejected for t in result.turns] == [None, "unused", None]  # once a run, then accepted
    note = server.requests[2]["messages"][-1]["content"]
    assert 'get_weather({"city":"Rome"})' in note and "19" in note and "Oslo" not in note.split("returned")[0]


def test_an_answer_that_uses_every_result_passes():
    server = ScriptedServer([action(("get_weather", {"city": "Oslo"}), ("get_weather", {"city": "Rome"})),
                             answer("Oslo 7 C, Rome 19 C.")])
    result = agent(server, "get_weather").run("Weather in Oslo and in Rome?")
    assert result.text == "Oslo 7 C, Rome 19 C." and len(result.turns) == 2


@pytest.mark.parametrize("pin,text,sent_back", [
    (True, "Playing lo-fi beats while I study.", True),
    (True, "Playing lo-fi beats; your 20 minute timer is running.", False),  # by its value
    (True, "Playing lo-fi beats, and the timer is on.", False),  # by its tool's noun
    (False, "Playing lo-fi beats while I study.", False),
])
def test_an_acknowledgement_beside_another_tools_result_is_named_in_the_answer(pin, text, sent_back):
    """Seen with the 0.5B model: "Start a 20 minute timer and play some lo-fi beats while I study." answered
    "Playing lo-fi beats while I study." (the timer's result, "started", says nothing of its own)."""
    server = ScriptedServer([action(("set_timer", {"minutes": 20}), ("play_music", {"query": "lo-fi beats"})),
                             answer(text), answer("20 minutes: started.")])
    result = agent(server, "set_timer", "play_music", pin=pin).run(
        "Start a 20 minute timer and play some lo-fi beats while I study.")
    assert (result.turns[1].rejected == "unused") is sent_back
    if sent_back:
        assert "set_timer" in server.requests[2]["messages"][-1]["content"] and "20" in result.text
    # One tool alone: its acknowledgement needs no naming ("Done." for a sent email stays an answer).
    server = ScriptedServer([action(("set_timer", {"minutes": 20})), answer("Done.")])
    assert agent(server, "set_timer", pin=pin).run("Start a 20 minute timer.").turns[1].rejected is None


def test_coverage_switches_off():
    server = ScriptedServer([action(("get_weather", {"city": "Oslo"}), ("get_weather", {"city": "Rome"})),
                             answer("Oslo is 7 C.")])
    result = agent(server, "get_weather", coverage=False).run("Weather in Oslo and in Rome?")
    assert result.text == "Oslo is 7 C." and len(result.turns) == 2


def test_several_answers_in_one_action_are_all_kept():
    server = ScriptedServer([action(("get_weather", {"city": "Oslo"}), ("get_weather", {"city": "Rome"})),
                             action(("final_answer", {"answer": "Oslo: 7 C"}), ("final_answer", {"answer": "Rome: 19 C"}))])
    result = agent(server, "get_weather").run("Weather in Oslo and in Rome?")
    assert result.text == "Oslo: 7 C\nRome: 19 C"


# --- values in the form their parameter shows ---------------------------------------------------------


def spec(description: str, **more) -> dict:
    return {"type": "string", "description": description, **more}


@pytest.mark.parametrize("description,value,ok", [
    ("IATA code of the departure airport, e.g. OSL", "OSL", True),
    ("IATA code of the departure airport, e.g. OSL", "Rome", False),
    ("IATA code of the departure airport, e.g. OSL", "PARIS", False),
    ("the customer id, e.g. C-1234", "C-1177", True),
    ("the customer id, e.g. C-1234", "John Smith", False),
    ("the ticker symbol, e.g. AAPL", "GOOGL", True),
    ("the recipient's email address", "alice.moreau@example.org", True),
    ("the recipient's email address", "Alice", False),
    ("the date, YYYY-MM-DD", "2027-01-05", True),
    ("the date, YYYY-MM-DD", "5 January", False),
    ("the start time, HH:MM (24-hour)", "14:30", True),
    ("the start time, HH:MM (24-hour)", "2 pm", False),
    ("a cuisine, e.g. thai", "anything at all", True),  # a word, not a code: no form to hold it to
    ("the language, e.g. French", "German", True),
    ("when, e.g. 2026-12-01 09:00 or tomorrow 8am", "tomorrow", True),
])
def test_values_in_the_wrong_form(description, value, ok):
    assert (misshapen_arguments({"v": value}, {"properties": {"v": spec(description)}}) == []) is ok


@pytest.mark.parametrize("value,said,ok", [
    ("OSLO", "flights lisbon -> oslo, 2026-12-30?", False),  # the user's word in capitals, not a code
    ("OSL", "flights lisbon -> oslo, 2026-12-30?", True),
    ("ROME", "Flights from Rome to Lisbon", False),
    ("LIS", "Flights from Rome to Lisbon", True),
    ("ABCD", "Flights from Rome to Lisbon", True),  # a code nobody said: the form alone decides
])
def test_a_word_said_in_capitals_is_no_code_of_another_length(value, said, ok):
    schema = {"properties": {"v": spec("IATA code of the arrival airport, e.g. CDG")}}
    assert (misshapen_arguments({"v": value}, schema, said) == []) is ok
    assert misshapen_arguments({"v": value}, schema) == []  # without what was said, as before


def test_forms_come_from_json_schema_format_and_skip_closed_choices():
    assert expected_form(spec("", format="email")) is not None
    assert expected_form(spec("e.g. OSL", enum=["OSL", "CDG"])) is None
    assert expected_form({"type": "integer", "description": "e.g. C-1"}) is None
    assert misshapen_arguments({"v": 3}, {"properties": {"v": spec("e.g. OSL")}}) == []


def test_a_name_where_an_address_goes_is_looked_up_first():
    server = ScriptedServer([
        action(("send_email", {"to": "Alice", "subject": "Report", "body": "The report is ready."})),
        action(("get_contact", {"name": "Alice"})),
        action(("send_email", {"to": "alice.moreau@example.org", "subject": "Report", "body": "The report is ready."})),
        answer("Sent to alice.moreau@example.org."),
    ])
    result = agent(server, "get_contact", "send_email").run("Email Alice that the report is ready.")
    first = result.turns[0].results[0]
    assert not first.ok and first.output.startswith(GUESSED) and "get_contact" in first.output
    assert offered(server.requests[1]) == {"get_contact", "ask_user"}  # the tool waits; the answer must ask
    assert [r.name for t in result.turns for r in t.results if r.ok] == ["get_contact", "send_email"]
    assert result.text == "Sent to alice.moreau@example.org."


@pytest.mark.parametrize("lookup,next_offered", [
    (True, {"get_contact", "ask_user"}),  # the one tool that returns email addresses, or a question
    (False, {"get_contact", "create_event", "search_notes", "ask_user"}),
])
def test_the_tool_that_finds_a_refused_value_is_named_and_is_the_next_action(lookup, next_offered):
    server = ScriptedServer([
        action(("send_email", {"to": "Bob", "subject": "Game", "body": "Friday's game is cancelled."})),
        action(("get_contact", {"name": "Bob"})),
        action(("send_email", {"to": "bob.l@example.net", "subject": "Game", "body": "Friday's game is cancelled."})),
        answer("Sent to bob.l@example.net."),
    ])
    result = agent(server, "get_contact", "send_email", "create_event", "search_notes", lookup=lookup, ask=lookup).run(
        "Send Bob a note that Friday's game is cancelled.")
    refusal = result.turns[0].results[0].output
    assert ("get_contact can find it: call get_contact with name 'Bob' first." in refusal) is lookup
    # With lookup and ask off, as before them: the other tools are named to try.
    assert refusal.endswith('Else ask with ask_user: "What is the recipient\'s email address?"')
    assert ("If one of" in refusal) is not lookup
    assert offered(server.requests[1]) == next_offered
    assert offered(server.requests[2]) >= {"send_email", "create_event"}  # then every tool again
    assert [r.name for t in result.turns for r in t.results if r.ok] == ["get_contact", "send_email"]


@pytest.mark.parametrize("name,spec,question", [
    ("to", {"description": "the recipient's email address"}, "What is the recipient's email address?"),
    ("origin", {"description": "where to start"}, "Where to start?"),
    ("when", {"description": "when, e.g. 2026-12-01 09:00 or tomorrow 8am"}, "When?"),
    ("date", {"description": "the date, YYYY-MM-DD"}, "What is the date?"),
    ("minutes", {"description": "length of the timer in minutes"}, "What is the length of the timer in minutes?"),
    ("query", {"description": "words to look for"}, "What are the words to look for?"),
    ("folder", {"description": "folder path relative to the workspace; . for the top"}, "Which folder?"),
    ("tracking_number", {}, "Which tracking number?"),
    ("title", {"description": "what the event is"}, "What is the event?"),
    ("city", {"description": "The city name"}, "What is the city name?"),
    ("origin", {"description": "IATA code of the departure airport, e.g. OSL"}, "What is the IATA code of the departure airport?"),
    ("state", {"description": "status of the order"}, "What is the status of the order?"),
    ("x", None, "Which x?"),
    ("x", {"description": 7}, "Which x?"),
    ("x", {"description": " , e.g. "}, "Which x?"),
    # A form alone says not what the value is: the parameter's name does (seen: "What is the three-letter code?").
    ("base", {"description": "three-letter code, e.g. USD"}, "Which base (three-letter code, e.g. USD)?"),
    ("from_currency", {"description": "three-letter code"}, "Which from currency (three-letter code)?"),
])
def test_the_question_for_a_missing_value_says_what_it_is(name, spec, question):
    """Seen with the 0.5B model: it asks the suggested question word for word; "Which origin?" did not say
    the value is where the drive starts."""
    assert question_for(name, spec) == question


def _described(*names: str) -> list[tuple[str, str]]:
    return [(n, TOOLS[n].description) for n in names]


@pytest.mark.parametrize("tool,parameter,others,found", [
    ("send_email", "to", ("get_contact", "create_event", "search_notes"), "get_contact"),
    ("get_orders", "customer_id", ("lookup_customer", "get_weather"), "lookup_customer"),
    ("search_flights", "origin", ("get_airport_code", "get_weather"), "get_airport_code"),
    ("read_file", "path", ("list_files", "get_time"), "list_files"),
    ("convert_currency", "amount", ("get_stock_price",), None),  # shares no word: the model must see it
    # One word in common is no link (each was seen sending the model to the wrong tool):
    ("list_files", "folder", ("read_file", "get_time"), None),  # "workspace"
    ("get_weather", "city", ("get_time",), None),  # "city"
    ("convert_currency", "from_currency", ("get_airport_code",), None),  # "code"
    ("get_contact", "name", ("search_notes", "send_email"), None),
])
def test_provider_is_the_tool_that_says_it_returns_such_a_value(tool, parameter, others, found):
    spec = TOOLS[tool].parameters["properties"][parameter]
    assert provider(parameter, spec, _described(*others)) == found


def test_provider_names_none_on_a_tie_and_never_raises():
    tie = [("find_a", "returns the email address"), ("find_b", "returns an email address too")]
    assert provider("to", {"description": "the email address"}, tie) is None
    assert provider("to", {"description": "x " * 100_000}, tie) is None
    assert provider("to", None, tie) is None  # type: ignore[arg-type]
    assert provider("to", {"description": "the email address"}, []) is None


DECLINE = "Sorry, I can't do that: none of my tools can."


@pytest.mark.parametrize("tool,arguments,said,copied", [
    ("read_file", {"path": "file_path"}, "Read the file for me", ["path"]),  # a placeholder
    ("read_file", {"path": "C:/Users/YourUsername/Documents/a.txt"}, "Read the file", ["path"]),
    ("read_file", {"path": "notes/my_notes.txt"}, "Read notes/my_notes.txt", []),  # the user's own
    ("search_notes", {"query": "words to look for"}, "Search my notes", ["query"]),  # the description
    ("create_reminder", {"text": "Call mum", "when": "2026-12-01 09:00"}, "Remind me to call mum", ["when"]),
    ("create_reminder", {"text": "Call mum", "when": "2026-12-01 09:00"}, "Call mum at 2026-12-01 09:00", []),
    # Every word of it said, not as one phrase (seen: both refused, as the description's example has them).
    ("create_reminder", {"text": "Submit it", "when": "2026-12-01 09:00"}, "Remind me on 2026-12-01 at 09:00", []),
    ("create_reminder", {"text": "Call the plumber", "when": "tomorrow 8am"}, "Remind me tomorrow at 8am", []),
    ("list_files", {"folder": ". for the top"}, "what files are in the top folder", ["folder"]),
    # The description's example, made of the starts of the user's words: theirs (seen refused).
    ("get_exchange_rate", {"base": "USD", "quote": "NOK"}, "rate from US dollars to Norwegian kroner", []),
    ("get_exchange_rate", {"base": "USD", "quote": "NOK"}, "exchange rate to Norwegian kroner", ["base"]),
    # The start of the user's word, the description's example too: theirs (seen refused, then asked for).
    ("convert_currency", {"amount": 100, "from_currency": "USD", "to_currency": "EUR"},
     "How much is 100 US dollars in euros today?", []),
    ("convert_currency", {"amount": 100, "from_currency": "USD", "to_currency": "EUR"}, "100 US dollars to yen?",
     ["to_currency"]),
    # The examples' decline as a body is still theirs, though the user said each of its words.
    ("send_email", {"to": "a@b.org", "subject": "Hi", "body": DECLINE}, "Tell a@b.org I'm sorry: none of my tools "
     "can do that, I can't help", ["body"]),
    # Said, but saying nothing: where the value is, or what the tool or parameter is (seen with the 0.5B model).
    ("get_definition", {"word": "word"}, "What does this word mean?", ["word"]),
    ("search_notes", {"query": "notes"}, "Search my notes.", ["query"]),
    ("get_directions", {"origin": "here", "destination": "airport"}, "How far is the airport from here?", ["origin"]),
    ("get_definition", {"word": "petrichor"}, "What does petrichor mean?", []),
    # Pointing back at what was said before, in the user's words (seen played as a song's name).
    ("play_music", {"query": "Yesterday's song I told you about."}, "Play that song I told you about yesterday.", ["query"]),
    ("get_news", {"topic": "the topic we talked about"}, "News on that topic we talked about", ["topic"]),
    ("play_music", {"query": "Nina Simone"}, "Put on some Nina Simone, I told you I like her.", []),
    # What the user dictated is theirs, recall or not.
    ("send_email", {"to": "a@b.org", "subject": "Invoice", "body": "As we discussed, the invoice is attached."},
     "Email a@b.org saying 'As we discussed, the invoice is attached.'", []),
    ("search_notes", {"query": "launch plan"}, "Find my note about the launch plan", []),
    ("send_email", {"to": "a@b.org", "subject": "Hi", "body": f"I'm afraid {DECLINE}"}, "Email a@b.org", ["body"]),
    ("send_email", {"to": "a@b.org", "subject": "Game", "body": "Friday's game is cancelled, see you soon."},
     "Email a@b.org that Friday's game is cancelled", []),
    ("get_weather", {"city": "New York"}, "weather in new york", []),
])
def test_values_copied_from_the_harness_side(tool, arguments, said, copied):
    assert copied_arguments(arguments, TOOLS[tool].parameters, said, f"Example: {DECLINE}", tool) == copied


def test_copied_arguments_never_raise_and_stay_linear():
    schema = TOOLS["send_email"].parameters
    for arguments in (None, [], {"to": None}, {"to": 3}, {"body": "x_y " * 100_000}, {"to": "\u0000" * 10}):
        assert isinstance(copied_arguments(arguments, schema, "said " * 50_000, DECLINE * 1000), list)  # type: ignore[arg-type]
    assert copied_arguments({"to": "a"}, None, "", "") == []  # type: ignore[arg-type]
    started = time.perf_counter()
    copied_arguments({"to": "a@b.org", "subject": "s", "body": "word " * 400}, schema, "word " * 100_000, "word " * 100_000)
    assert time.perf_counter() - started < 2


@pytest.mark.parametrize("copied", [True, False])
def test_a_placeholder_value_is_refused_and_the_question_offered(copied):
    server = ScriptedServer([
        action(("search_notes", {"query": "words to look for"})),
        action(("ask_user", {"question": "Which words should I look for?"})),
        answer("unused"),
    ])
    result = agent(server, "search_notes", "get_time", copied=copied, grounding=True).run("Search my notes.")
    first = result.turns[0].results[0]
    assert first.ok is not copied
    assert ("ask_user" in offered(server.requests[1])) is copied
    if copied:
        assert first.output.startswith(GUESSED) and result.text == "Which words should I look for?"


def test_an_answer_that_parrots_the_note_on_an_earlier_answer_is_sent_back_too():
    server = ScriptedServer([
        answer("Neil Armstrong, in 1969... or 11."),
        answer("11, which neither the user nor a tool gave."),  # the note on the answer before, handed back
        answer("Neil Armstrong, on Apollo 11."),
    ])
    result = agent(server, "get_weather").run("Who first walked on the moon?")
    assert [t.rejected for t in result.turns[:2]] == ["numbers", "echo"]
    assert result.text == "Neil Armstrong, on Apollo 11."


def test_a_time_in_the_wrong_form_is_rewritten_with_the_tool_still_offered():
    server = ScriptedServer([
        action(("create_event", {"title": "Dentist", "date": "2026-12-03", "time": "2 pm"})),
        action(("create_event", {"title": "Dentist", "date": "2026-12-03", "time": "14:00"})),
        answer("Added Dentist on 2026-12-03 at 14:00."),
    ])
    result = agent(server, "create_event").run("Put Dentist on my calendar for 2026-12-03 at 2 pm.")
    assert "HH:MM" in result.turns[0].results[0].output and not result.turns[0].results[0].ok
    assert "create_event" in offered(server.requests[1]) and result.turns[1].results[0].ok


# --- optional values nobody gave ---------------------------------------------------------------------------


def test_invented_optional_values_are_left_out():
    schema = TOOLS["set_timer"].parameters
    assert invented_optional({"minutes": 5, "label": "Timer 1"}, schema, "a 5 minute timer") == ["label"]
    assert invented_optional({"minutes": 5, "label": "Pasta"}, schema, "a 5 minute timer for the pasta") == []
    weather = TOOLS["get_weather"].parameters
    assert invented_optional({"city": "Oslo", "unit": "celsius"}, weather, "Oslo") == []  # the default
    assert invented_optional({"city": "Oslo", "unit": "fahrenheit"}, weather, "Oslo") == []  # a closed choice


def test_the_call_runs_and_is_shown_without_them():
    server = ScriptedServer([action(("set_timer", {"minutes": 5, "label": "Timer 1"})), answer("Started: 5 minutes.")])
    events = list(agent(server, "set_timer").stream("Set a 5 minute timer."))
    shown = [e for e in events if type(e).__name__ == "ToolCallEvent"][0]
    assert shown.call.arguments == {"minutes": 5}
    assert [r.arguments for t in events[-1].result.turns for r in t.results] == [{"minutes": 5}]
    # The model's own text stays verbatim in the transcript.
    assert server.requests[1]["messages"][2]["content"] == '[{"name": "set_timer", "arguments": {"minutes": 5, "label": "Timer 1"}}]'


def test_examples_show_what_follows_results():
    shown = render_examples("json", True, True)
    assert shown == render_examples("json", True, True)
    assert "Tool result for parcel_status:" in shown and "Tool result for send_text:" in shown
    assert shown.index('"to":"+1 555 0100"') > shown.index("Tool result for find_person:")


# --- an answer that only says the request back -----------------------------------------------------------


@pytest.mark.parametrize("said,asked,restated", [
    ("Turned on the living room lights.", "Turn on the living room lights, please.", True),
    ("I'm scanning my computer for viruses.", "Scan my computer for viruses.", True),
    ("Check the balance on your coffee shop gift card.", "Check the balance on my coffee shop gift card", True),
    ("The capital of Norway is Oslo.", "What is the capital of Norway?", False),  # "Oslo" is its own
    ("Berlin is colder.", "Is Toronto or Berlin colder?", False),  # too short to tell
    ("Yes, 7 is bigger than 5.", "Is 7 bigger than 5?", False),
    ("Sorry, I can't do that: none of my tools can.", "Lock the front door", False),
])
def test_restates(said, asked, restated):
    from harness.prompt import restates

    assert restates(said, asked) is restated


def test_a_restated_request_is_sent_back_once_and_the_next_action_must_answer():
    server = ScriptedServer([answer("Turned on the living room lights."),
                             answer("Sorry, I can't do that: none of my tools can.")])
    result = agent(server, "get_weather", "play_music").run("Turn on the living room lights.")
    assert result.text == "Sorry, I can't do that: none of my tools can."
    assert result.turns[0].rejected == "restated"
    assert offered(server.requests[1]) == {"final_answer"}
    assert "says the request back" in server.requests[1]["messages"][-1]["content"]


def test_restating_is_judged_only_when_no_tool_ran():
    server = ScriptedServer([action(("get_weather", {"city": "Oslo"})), answer("The weather in Oslo is cloudy.")])
    result = agent(server, "get_weather").run("What is the weather in Oslo?")
    assert result.text == "The weather in Oslo is cloudy." and len(result.turns) == 2


# --- fill: after the lookup the harness named, the refused call with the value found ------------------

ALICE = '{"name": "Alice Moreau", "email": "alice.moreau@example.org", "phone": "+33 6 12 34 56 78"}'


@pytest.mark.parametrize("output,tool,parameter,value", [
    ('{"code": "LIS"}', "search_flights", "origin", "LIS"),  # the only field
    (ALICE, "send_email", "to", "alice.moreau@example.org"),  # "email" in "the recipient's email address"
    ('{"customer_id": "C-4821", "name": "Maria Garcia"}', "get_orders", "customer_id", "C-4821"),
    ('{"currency": "USD", "price": 231.42, "symbol": "AAPL"}', "convert_currency", "amount", None),  # no such field
    ('{"error": "no airport found for Lisboa"}', "search_flights", "origin", None),  # an error finds nothing
    ("LIS", "search_flights", "origin", None),  # not a JSON object
    ('["LIS"]', "search_flights", "origin", None),
])
def test_found_value_is_the_field_for_the_parameter(output, tool, parameter, value):
    assert found_value(output, parameter, TOOLS[tool].parameters["properties"][parameter]) == value


def test_found_value_never_raises_and_stays_linear():
    for garbage in ["[" * 100_000, '{"a": ' * 50_000, "null", '{"code": {"x": 1}}', "x" * 1_000_000]:
        assert found_value(garbage, "origin", {"description": "airport code"}) is None
    assert found_value('{"code": "LIS"}', "origin", None) == "LIS"  # type: ignore[arg-type]
    started = time.perf_counter()
    found_value(json.dumps({f"k{i}": "v" for i in range(100_000)}), "origin", {"description": "code " * 100_000})
    assert time.perf_counter() - started < 2


@pytest.mark.parametrize("fill,pin", [(True, True), (True, False), (False, False)])
def test_after_the_named_lookup_the_refused_call_is_named_with_the_value(fill, pin):
    server = ScriptedServer([
        action(("send_email", {"to": "Alice", "subject": "Report", "body": "The report is ready."})),
        action(("get_contact", {"name": "Alice"})),
        action(("send_email", {"to": "alice.moreau@example.org", "subject": "Report", "body": "The report is ready."})),
        answer("Sent to alice.moreau@example.org."),
    ])
    result = agent(server, "get_contact", "send_email", fill=fill, pin=pin).run("Email Alice that the report is ready.")
    after_lookup = server.requests[2]["messages"][-1]["content"]
    assert ("Now call send_email with to 'alice.moreau@example.org', from this result." in after_lookup) is fill
    assert "Tool result for get_contact" in after_lookup
    assert [r.name for t in result.turns for r in t.results if r.ok] == ["get_contact", "send_email"]
    # No hint where no lookup was named: the send's own result is plain.
    assert "Now call" not in server.requests[3]["messages"][-1]["content"]
    # The refused call has run with the value found: anything but it next (the model searched again, seen);
    # with pin, only a tool the task still asks for, and this task asks for none.
    assert offered(server.requests[3]) == ({"final_answer"} if pin else {"get_contact", "final_answer"} if fill else
                                           {"get_contact", "send_email", "final_answer"})
    assert result.turns[2].finished == (["send_email"] if fill else [])


# --- siblings, recap, complete: requests that list values, and answers that leave results out --------


@pytest.mark.parametrize("on", [True, False])
def test_a_listed_value_no_call_used_yet_is_the_next_call(on):
    server = ScriptedServer([action(("get_weather", {"city": "Paris"})), action(("get_weather", {"city": "Madrid"})),
                             answer("Paris 14 C, Madrid 22 C: Madrid is warmer.")])
    result = agent(server, "get_weather", "get_time", siblings=on).run("Which is warmer, Paris or Madrid?")
    after_paris = server.requests[1]["messages"][-1]["content"]
    assert ("Now call get_weather with city 'Madrid' too, for the task." in after_paris) is on
    # With siblings the next action must be that call: no answer, no other tool.
    assert offered(server.requests[1]) == ({"get_weather"} if on else {"get_weather", "get_time", "final_answer"})
    assert result.turns[0].pending == (["get_weather"] if on else [])
    assert result.text == "Paris 14 C, Madrid 22 C: Madrid is warmer."
    assert "Now call" not in server.requests[2]["messages"][-1]["content"]  # Madrid is done: nothing pending


def test_a_sibling_for_another_tool_is_named_with_it():
    server = ScriptedServer([action(("get_weather", {"city": "Paris"})), action(("get_time", {"city": "London"})),
                             answer("Paris: sunny, 14 C. London: 12:40.")])
    agent(server, "get_weather", "get_time").run("What's the weather in Paris, and what time is it in London?")
    assert "Now call get_time with city 'London' too" in server.requests[1]["messages"][-1]["content"]
    assert offered(server.requests[1]) == {"get_time"}


@pytest.mark.parametrize("on", [True, False])
def test_the_part_an_answer_left_out_is_added_to_it(on):
    server = ScriptedServer([action(("get_weather", {"city": "Oslo"}), ("get_weather", {"city": "Rome"})),
                             answer("Oslo is 7 C."), answer("Rome is 19 C.")])
    result = agent(server, "get_weather", complete=on).run("Weather in Oslo and in Rome?")
    assert [t.rejected for t in result.turns] == [None, "unused", None]
    assert result.text == ("Oslo is 7 C.\nRome is 19 C." if on else "Rome is 19 C.")
    assert ("they are added to what you said" in server.requests[2]["messages"][-1]["content"]) is on


@pytest.mark.parametrize("labelled", [True, False])
def test_the_answer_asked_for_what_was_left_out_opens_with_its_subject(labelled):
    """Seen with the 0.5B model: told its answer left out Norway's population, it answered "5594000
    people in Iceland."."""
    import re

    server = ScriptedServer([action(("get_population", {"place": "Norway"}), ("get_population", {"place": "Iceland"})),
                             answer("393000 people in Iceland."), answer("Norway: 5594000 people.")])
    result = agent(server, "get_population", labelled=labelled).run("Which has more people, Norway or Iceland?")
    assert [t.rejected for t in result.turns] == [None, "unused", None]
    assert result.text == "393000 people in Iceland.\nNorway: 5594000 people."
    schema = server.requests[2]["response_format"]["json_schema"]["schema"]
    answers = [o for o in schema.get("items", schema)["anyOf"] if o["properties"]["name"]["const"] == "final_answer"]
    pattern = answers[0]["properties"]["arguments"]["properties"]["answer"].get("pattern")
    if not labelled:
        assert pattern is None
        return
    assert re.match(pattern, "Norway: 5594000 people.") and not re.match(pattern, "5594000 people in Iceland.")
    assert offered(server.requests[2]) == offered(server.requests[1])  # a call may still come first
    assert "pattern" not in json.dumps(server.requests[1]["response_format"])  # only after the note


def test_the_values_a_note_asked_for_are_no_echo_of_it():
    """Seen with the 0.5B model: told its answer left out the German translation (the note quotes the
    result), it gave exactly those values, and was sent back as an echo of the note, twice."""
    server = ScriptedServer([
        action(("translate", {"text": "good morning", "target_language": "Spanish"}),
               ("translate", {"text": "thank you very much", "target_language": "German"})),
        answer("Buenos días."), answer("thank you very much: Merci beaucoup / Muchas gracias / Vielen Dank")])
    result = agent(server, "translate").run("Translate 'good morning' into Spanish and 'thank you very much' into German.")
    assert [t.rejected for t in result.turns] == [None, "unused", None]
    assert "Vielen Dank" in server.requests[2]["messages"][-1]["content"]  # the note quotes the result
    assert result.text == "Buenos días.\nthank you very much: Merci beaucoup / Muchas gracias / Vielen Dank"


def test_an_answer_repeated_after_it_was_sent_back_is_not_doubled():
    server = ScriptedServer([action(("get_weather", {"city": "Oslo"}), ("get_weather", {"city": "Rome"})),
                             answer("Oslo is 7 C."), answer("Oslo is 7 C.")])
    assert agent(server, "get_weather").run("Weather in Oslo and in Rome?").text == "Oslo is 7 C."


def test_a_result_that_reports_an_error_need_not_be_in_the_answer():
    server = ScriptedServer([action(("get_airport_code", {"city": "Portugal"})), answer("Portugal's capital is Lisbon.")])
    result = agent(server, "get_airport_code").run("whats portugal's capital")
    assert '"error"' in result.turns[0].results[0].output and result.turns[0].results[0].ok
    assert result.text == "Portugal's capital is Lisbon." and [t.rejected for t in result.turns] == [None, None]


def test_the_lookup_is_named_with_the_users_word_and_filled_only_from_a_lookup_of_it():
    flights = ("search_flights", "get_airport_code")
    server = ScriptedServer([
        action(("search_flights", {"origin": "FCO", "destination": "Lisbon", "date": "2026-12-22"})),
        action(("get_airport_code", {"city": "Rome"})),  # the city looked up before, not Lisbon
        action(("get_airport_code", {"city": "Lisbon"})),
        action(("search_flights", {"origin": "FCO", "destination": "LIS", "date": "2026-12-22"})),
        answer("HX 412 leaves at 08:05."),
    ])
    result = agent(server, *flights).run("Any flights from Rome (FCO) to Lisbon on 2026-12-22? What time?")
    refusal = result.turns[0].results[0].output
    assert "get_airport_code can find it: call get_airport_code with city 'Lisbon' first." in refusal
    after_rome = server.requests[2]["messages"][-1]["content"]
    assert "Now call search_flights" not in after_rome  # Rome's code is no destination
    assert "Now call get_airport_code with city 'Lisbon' too, for the task." in after_rome
    assert server.requests[2]["response_format"]["json_schema"]["schema"] != server.requests[1]["response_format"]["json_schema"]["schema"]
    assert "Now call search_flights with destination 'LIS', from this result." in server.requests[3]["messages"][-1]["content"]
    assert result.turns[0].lookup_for == [("get_airport_code", "search_flights", "destination", "Lisbon")]


@pytest.mark.parametrize("lookup", [True, False])
def test_every_value_one_tool_finds_is_named_at_once_and_filled_together(lookup):
    """ "from Rome to Lisbon" written as cities where airport codes go: both lookups in one refusal, and
    the refused call named with both codes (the 0.5B model dropped the first code when given them one
    at a time, and two refusals took two more turns than the benchmark's six)."""
    flights = ("search_flights", "get_airport_code")
    server = ScriptedServer([
        action(("search_flights", {"origin": "Rome", "destination": "LISBO", "date": "2026-12-22"})),
        action(("get_airport_code", {"city": "Rome"}), ("get_airport_code", {"city": "Lisbon"})),
        action(("search_flights", {"origin": "FCO", "destination": "LIS", "date": "2026-12-22"})),
        answer("HX 412 leaves at 08:05."),
    ])
    result = agent(server, *flights, lookup=lookup).run("Any flights from Rome to Lisbon on 2026-12-22?")
    refusal = result.turns[0].results[0].output
    if not lookup:
        assert "with city" not in refusal and result.turns[0].lookup_for == []
        return
    assert "origin like 'OSL' ('Rome' is not) or destination like 'CDG' ('LISBO' is not)" in refusal
    assert "call get_airport_code with city 'Rome' and with city 'Lisbon' first." in refusal  # the user's word
    assert [w[2:] for w in result.turns[0].lookup_for] == [("origin", "Rome"), ("destination", "Lisbon")]
    filled = server.requests[2]["messages"][-1]["content"]
    assert "Now call search_flights with origin 'FCO' and destination 'LIS', from these results." in filled
    assert result.text == "HX 412 leaves at 08:05."


def test_a_city_in_capitals_where_a_code_goes_is_looked_up_with_its_neighbour():
    """Seen with the 0.5B model: "flights lisbon -> oslo" as origin 'LISBO' and destination 'OSLO'; the
    form of 'CDG' admits four capitals, so only Lisbon was looked up and the flights were searched to
    'OSLO'. Both are named in one refusal now."""
    server = ScriptedServer([
        action(("search_flights", {"origin": "LISBO", "destination": "OSLO", "date": "2026-12-30"})),
        answer("Which airports?"),
    ])
    result = agent(server, "search_flights", "get_airport_code").run("flights lisbon -> oslo, 2026-12-30?")
    refusal = result.turns[0].results[0].output
    assert "call get_airport_code with city 'lisbon' and with city 'oslo' first." in refusal


@pytest.mark.parametrize("fill", [True, False])
def test_a_guess_for_a_value_a_result_already_gave_is_pointed_at_it(fill):
    """Seen with the 0.5B model: with Bob's contact looked up, send_email to '+1 555 0100' (the examples'
    number); told to call get_contact first, it declined."""
    server = ScriptedServer([
        action(("get_contact", {"name": "Bob"})),
        action(("send_email", {"to": "+1 555 0100", "subject": "Port", "body": "The port is 8443."})),
        action(("send_email", {"to": "bob.l@example.net", "subject": "Port", "body": "The port is 8443."})),
        answer("Sent to bob.l@example.net."),
    ])
    result = agent(server, "get_contact", "send_email", fill=fill).run("Email Bob that the port is 8443.")
    refusal = result.turns[1].results[0].output
    if not fill:
        assert "get_contact can find it" in refusal
        return
    assert refusal == ("Not run: to ('+1 555 0100' is a guess). A result above gives it: call send_email again with "
                       "to 'bob.l@example.net'.")
    assert offered(server.requests[2]) == {"send_email"}
    assert result.turns[2].results[0].ok and result.text == "Sent to bob.l@example.net."


def test_two_results_that_differ_point_at_neither():
    server = ScriptedServer([
        action(("get_contact", {"name": "Bob"}), ("get_contact", {"name": "Alice"})),
        action(("send_email", {"to": "+1 555 0100", "subject": "Port", "body": "The port is 8443."})),
        answer("Whom to?"),
    ])
    result = agent(server, "get_contact", "send_email").run("Email Bob and Alice that the port is 8443.")
    assert "A result above gives it" not in result.turns[1].results[0].output


def test_a_lookup_that_found_nothing_is_not_asked_for_again():
    """ "Atlantis" has no airport: its lookup ran and found nothing, so the hint names no lookup to make
    (the user may be asked), and fill names the code that was found."""
    flights = ("search_flights", "get_airport_code")
    server = ScriptedServer([
        action(("search_flights", {"origin": "Rome", "destination": "Atlantis", "date": "2026-12-22"})),
        action(("get_airport_code", {"city": "Rome"}), ("get_airport_code", {"city": "Atlantis"})),
        answer("Sorry, I found no airport for Atlantis."),
    ])
    result = agent(server, *flights).run("Any flights from Rome to Atlantis on 2026-12-22?")
    after = server.requests[2]["messages"][-1]["content"]
    assert "get_airport_code with city 'Atlantis' too" not in after and result.turns[1].pending == []
    assert "Now call search_flights with origin 'FCO', from this result." in after
    assert result.text == "Sorry, I found no airport for Atlantis."


def test_the_users_word_behind_a_cut_or_copied_value():
    said = "Find me a flight from Oslo to Lisbon"
    assert Agent._user_word("LISBO", said) == "Lisbon" and Agent._user_word("OSL", said) == "Oslo"
    assert Agent._user_word("Oslo", said) == "Oslo"
    assert Agent._user_word("CDG", said) == "" and Agent._user_word("", said) == "" and Agent._user_word("ab", said) == ""


def test_an_answer_that_gives_it_all_the_second_time_is_not_joined():
    server = ScriptedServer([action(("get_weather", {"city": "Oslo"}), ("get_weather", {"city": "Rome"})),
                             answer("Oslo is 7 C."), answer("Oslo is 7 C; Rome is 19 C.")])
    assert agent(server, "get_weather").run("Weather in Oslo and in Rome?").text == "Oslo is 7 C; Rome is 19 C."


def test_a_tool_that_changes_things_is_never_named_as_a_sibling():
    from dataclasses import replace
    email = replace(TOOLS["send_email"], needs_approval=True)
    server = ScriptedServer([action(("send_email", {"to": "bob@example.org", "subject": "Hi", "body": "Lunch?"})),
                             answer("Sent to bob@example.org.")])
    agent_ = Agent([email], client=server.client(), constrained=True, approve=lambda *_: True)
    result = agent_.run("Email bob@example.org or alice@example.org, whoever is around: subject 'Hi', body 'Lunch?'")
    assert "Now call" not in server.requests[1]["messages"][-1]["content"] and result.turns[0].pending == []


FLIGHT = TOOLS["search_flights"].parameters


@pytest.mark.parametrize("arguments,said,made", [
    ({"origin": "CHI", "destination": "TOK", "date": "2026-12-28"}, "Flights from Chicago to Tokyo on 2026-12-28",
     [("origin", "Chicago"), ("destination", "Tokyo")]),
    ({"origin": "FCO", "destination": "LIS", "date": "x"}, "from Rome (FCO) to Lisbon", [("destination", "Lisbon")]),
    ({"origin": "ORD", "destination": "HND", "date": "x"}, "from Chicago to Tokyo", []),  # no cut of a word said
    ({"origin": "Chi", "destination": "tok", "date": "x"}, "from Chicago to Tokyo", []),  # not a code
    ({"origin": "CHICAGO", "destination": "X", "date": "x"}, "from Chicago", []),  # the word itself
    ({"origin": 7, "destination": None}, "Chicago", []),
])
def test_codes_made_from_the_users_words(arguments, said, made):
    assert made_codes(arguments, FLIGHT, said) == made


def test_a_code_made_from_the_users_word_is_looked_up_where_a_tool_can():
    """Seen with the 0.5B model: flights searched from CHI to TOK (Chicago is ORD), then our note parroted."""
    server = ScriptedServer([
        action(("search_flights", {"origin": "CHI", "destination": "TOK", "date": "2026-12-28"})),
        action(("get_airport_code", {"city": "Chicago"}), ("get_airport_code", {"city": "Tokyo"})),
        action(("search_flights", {"origin": "ORD", "destination": "HND", "date": "2026-12-28"})),
        answer("HX 412 leaves at 08:05."),
    ])
    result = agent(server, "search_flights", "get_airport_code").run("Look for flights from Chicago to Tokyo on "
                                                                     "2026-12-28 please.")
    refusal = result.turns[0].results[0].output
    assert not result.turns[0].results[0].ok and refusal.startswith(GUESSED)
    assert "call get_airport_code with city 'Chicago' and with city 'Tokyo' first" in refusal
    assert [(r.name, r.arguments.get("origin")) for t in result.turns for r in t.results if r.ok][-1] == \
        ("search_flights", "ORD")
    # With no tool to look it up, or with lookups off, the code runs as the model wrote it.
    for names, lookup in ((("search_flights",), True), (("search_flights", "get_airport_code"), False)):
        server = ScriptedServer([action(("search_flights", {"origin": "CHI", "destination": "TOK", "date": "2026-12-28"})),
                                 answer("HX 412.")])
        result = agent(server, *names, lookup=lookup).run("Look for flights from Chicago to Tokyo on 2026-12-28.")
        assert result.turns[0].results[0].ok


def test_a_code_made_from_the_users_word_is_looked_up_with_a_misshapen_value_beside_it():
    """Seen with the 0.5B model: OSL (from "Oslo") beside PARIS, refused for PARIS alone; with CDG found,
    then refused for OSL, it looked Oslo up and searched with "Paris" again, until its turns ran out."""
    server = ScriptedServer([
        action(("search_flights", {"origin": "OSL", "destination": "PARIS", "date": "2026-12-18"})),
        action(("get_airport_code", {"city": "Paris"}), ("get_airport_code", {"city": "Oslo"})),
        action(("search_flights", {"origin": "OSL", "destination": "CDG", "date": "2026-12-18"})),
        answer("HX 412 leaves at 08:05."),
    ])
    result = agent(server, "search_flights", "get_airport_code").run("Find me a flight from Oslo to Paris on 2026-12-18.")
    refusal = result.turns[0].results[0].output
    assert refusal.startswith(GUESSED) and "('PARIS' is not)" in refusal and "('OSL' is a guess made from 'Oslo')" in refusal
    assert "call get_airport_code with city 'Paris' and with city 'Oslo' first" in refusal
    assert "Now call search_flights with destination 'CDG' and origin 'OSL'" in server.requests[2]["messages"][-1]["content"]
    assert [r.name for t in result.turns for r in t.results if r.ok] == ["get_airport_code", "get_airport_code",
                                                                        "search_flights"]
    assert result.text == "HX 412 leaves at 08:05."


@pytest.mark.parametrize("lookup", [True, False])
def test_a_users_code_in_another_tools_form_is_sent_to_that_tool(lookup):
    """Seen with the 0.5B model: "Which one trades higher, MSFT or AMZN?" called get_exchange_rate with base
    'MSFT' and quote 'AMZN' (three-letter codes), was told to ask for the code, and answered from the
    worked examples. They are tickers: get_stock_price's symbol is like 'AAPL'."""
    server = ScriptedServer([
        action(("get_exchange_rate", {"base": "MSFT", "quote": "AMZN"})),
        action(("get_stock_price", {"symbol": "MSFT"}), ("get_stock_price", {"symbol": "AMZN"})),
        answer("MSFT: 418.07 USD, AMZN: 187.33 USD. So MSFT trades higher."),
    ], answer_probabilities=[0.05])
    result = agent(server, "get_exchange_rate", "get_stock_price", "get_news", lookup=lookup).run(
        "Which one trades higher, MSFT or AMZN?")
    refusal = result.turns[0].results[0].output
    if not lookup:
        assert "get_stock_price" not in refusal
        return
    assert refusal == ("Not run: the user never gave base like 'USD' ('MSFT' is not) or quote like 'JPY' ('AMZN' "
                       "is not): they are get_stock_price's symbol. Call get_stock_price with symbol 'MSFT' and "
                       "with symbol 'AMZN' first.")
    assert "get_stock_price" in offered(server.requests[1]) and "get_exchange_rate" not in offered(server.requests[1])
    assert [r.output for r in result.turns[1].results] == [
        '{"currency": "USD", "price": 418.07, "symbol": "MSFT"}', '{"currency": "USD", "price": 187.33, "symbol": "AMZN"}']
    assert result.text.endswith("So MSFT trades higher.")


def test_a_code_that_fits_no_other_tool_or_several_is_asked_for_as_before():
    # 'OSLO' is in no other tool's form; a tool whose parameter shows no form is no home.
    server = ScriptedServer([action(("get_exchange_rate", {"base": "NOK", "quote": "OSLO"})), answer("Which?")])
    result = agent(server, "get_exchange_rate", "get_weather").run("Rate from NOK to OSLO?")
    assert "get_weather" not in result.turns[0].results[0].output
    server = ScriptedServer([action(("get_exchange_rate", {"base": "MSFT", "quote": "USD"})), answer("Which?")])
    result = agent(server, "get_exchange_rate", "get_stock_price", "track_package").run("MSFT in USD?")
    assert "it is get_stock_price's symbol" in result.turns[0].results[0].output


def test_a_value_the_call_already_gives_is_no_known_value_for_another_parameter():
    """Seen with the 0.5B model: with NVDA's price in ({"currency": "USD", ...}), convert_currency from 'USD'
    to 'JPY' ("Japanese yen" then read as no one's) was told "A result above gives it: call convert_currency
    again with to_currency 'USD'", twice. USD is the currency it converts from."""
    server = ScriptedServer([
        action(("get_stock_price", {"symbol": "NVDA"})),
        action(("convert_currency", {"amount": 139.85, "from_currency": "USD", "to_currency": "CHF"})),
        answer("Which currency?"),
    ])
    result = agent(server, "get_stock_price", "convert_currency").run("Convert the price of one NVDA share.")
    refusal = result.turns[1].results[0].output
    assert "'CHF' is a guess" in refusal and "A result above gives it" not in refusal


@pytest.mark.parametrize("repair", [True, False])
def test_a_guessed_code_becomes_the_one_code_of_its_form_the_user_gave(repair):
    """Seen with the 0.5B model: "weather in London and the AMZN share price" ran get_weather, then
    get_stock_price with 'AAPL' (the description's example); told it was a guess, it declined."""
    server = ScriptedServer([
        action(("get_weather", {"city": "London"})),
        action(("get_stock_price", {"symbol": "AAPL"})),
        answer("London: rainy, 11 C. AMZN: 187.33 USD." if repair else "Which symbol?"),
    ])
    result = agent(server, "get_weather", "get_stock_price", untried=False, repair=repair).run(
        "Quick morning briefing: weather in London and the AMZN share price.")
    second = result.turns[1].results[0]
    assert second.ok is repair
    if repair:
        assert second.arguments == {"symbol": "AMZN"} and result.text.endswith("AMZN: 187.33 USD.")


@pytest.mark.parametrize("task,symbol", [
    ("amzn price?", "AMZN"),  # in lower case (seen: 'AAPL', then "Sorry, I can't")
    ("what's the price of amzn or nvda?", None),  # two such words: which is the user's to say
    ("what's the price of apple?", None),  # no word of the form but a plain one ("what")
    ("price of gold?", None),  # "gold" is a word a person says, not a code
    ("whats apple trading at? tysm", None),  # "tysm" has a vowel ("y") and no three consonants in a row
])
def test_a_guessed_code_becomes_the_one_lower_case_word_of_its_form(task, symbol):
    server = ScriptedServer([action(("get_stock_price", {"symbol": "AAPL"})), answer("ok")])
    result = agent(server, "get_stock_price", untried=False).run(task)
    first = result.turns[0].results[0]
    assert first.ok is (symbol is not None)
    if symbol:
        assert first.arguments == {"symbol": symbol}


def test_a_question_the_harness_asked_for_is_not_overridden_by_the_last_chance():
    """Seen with the 0.5B model: "Pull up the recent orders for my customer." called get_orders with 'C-1234'
    and then lookup_customer with it, each refused as a guess; the second refusal asked for the name, but
    with its retries spent the run was made to answer, and it declined."""
    server = ScriptedServer([
        action(("get_orders", {"customer_id": "C-1234"})),
        action(("lookup_customer", {"name": "C-1234"})),
        action(("ask_user", {"question": "What is the customer's full name?"})),
    ], answer_probabilities=[0.01])
    result = agent(server, "get_orders", "lookup_customer").run("Pull up the recent orders for my customer.")
    assert offered(server.requests[2]) == {"ask_user"}
    assert result.text == "What is the customer's full name?" and result.stop_reason == "final_answer"


@pytest.mark.parametrize("coverage", [True, False])
def test_one_tools_results_are_each_named_by_the_value_that_sets_them_apart(coverage):
    """Seen with the 0.5B model: headlines on football and on climate, answered "Climate: regulators publish a
    new report, markets react calmly.": the football headlines say the same words after "football:"."""
    server = ScriptedServer([
        action(("get_news", {"topic": "football"}), ("get_news", {"topic": "climate"})),
        answer("Climate: regulators publish a new report, markets react calmly."),
        answer("football: regulators publish a new report, markets react calmly."),
    ])
    result = agent(server, "get_news", coverage=coverage).run("Headlines on football and on climate, please.")
    if not coverage:
        assert result.text == "Climate: regulators publish a new report, markets react calmly."
        return
    assert result.turns[1].rejected == "unused"
    assert 'get_news({"topic":"football"})' in server.requests[2]["messages"][-1]["content"]
    assert "climate" not in server.requests[2]["messages"][-1]["content"].split("returned")[0]
    assert "Climate:" in result.text and "football:" in result.text


def test_results_that_differ_all_through_need_no_label():
    # The benchmark's translate returns one text for both languages: nothing sets the results apart, and
    # "Merci beaucoup / Vielen Dank" uses them (seen sent back, then answered without "Vielen Dank").
    server = ScriptedServer([
        action(("translate", {"text": "thank you very much", "target_language": "French"}),
               ("translate", {"text": "thank you very much", "target_language": "German"})),
        answer("Merci beaucoup / Vielen Dank"),
    ])
    result = agent(server, "translate").run("Translate 'thank you very much' into French and into German.")
    assert [t.rejected for t in result.turns] == [None, None] and result.text == "Merci beaucoup / Vielen Dank"


# --- asked what time: the answer gives a time the results give -----------------------------------------

FOUND_FLIGHT = ('{"flights": [{"date": "2026-12-22", "departs": "08:05", "flight": "HX 412", "from": "FCO", '
          '"price_eur": 129, "to": "LIS"}]}')


@pytest.mark.parametrize("coverage", [True, False])
def test_asked_what_time_an_answer_with_no_time_of_the_results_is_sent_back_once(coverage):
    """Seen with the 0.5B model: "What time does it leave?" answered "No flights from Rome to Lisbon on
    2026-12-22. The flight from FCO to LIS is priced at 129 euros." with 08:05 in the result."""
    server = ScriptedServer([action(("search_flights", {"origin": "FCO", "destination": "LIS", "date": "2026-12-22"})),
                             answer("The flight from FCO to LIS is priced at 129 euros."),
                             answer("HX 412 leaves at 8:05.")])
    result = agent(server, "search_flights", coverage=coverage).run(
        "Any flights from FCO to LIS on 2026-12-22? What time does it leave?")
    if not coverage:
        assert result.text == "The flight from FCO to LIS is priced at 129 euros."
        return
    assert [t.rejected for t in result.turns] == [None, "untimed", None]
    assert "The results give 08:05." in server.requests[2]["messages"][-1]["content"]
    assert result.text == "HX 412 leaves at 8:05."  # 8:05 is 08:05


@pytest.mark.parametrize("task,output,asked,times", [
    ("What time does it leave?", FOUND_FLIGHT, True, ["08:05"]),
    ("When is the meeting?", "Team meeting: Friday at 10:00 in room 4.", True, ["10:00"]),
    ("How late is the shop open?", "Open until 9:30pm", True, ["09:30"]),
    ("What's the weather in Oslo?", '{"time": "25:99"}', False, []),  # no time asked, none there
    ("Set a timer for 5 minutes", "12:3 and 123:45", False, []),
])
def test_asks_time_and_clock_times(task, output, asked, times):
    from harness.grounding import asks_time, clock_times

    assert asks_time(task) is asked and clock_times(output) == times
    assert asks_time(None) is False and clock_times("1:00 " * 100_000)[:1] == ["01:00"]  # type: ignore[arg-type]


def test_an_acknowledgement_named_by_a_long_value_of_its_call_is_used():
    """Seen with the 0.5B model: "Sent to Priya Raman: Please provide the Q3 numbers." was sent back as leaving
    send_email's result out (its body is five words)."""
    contact = ("get_contact", {"name": "Priya"})
    email = ("send_email", {"to": "priya.raman@example.com", "subject": "Budget", "body": "Please provide the Q3 numbers."})
    server = ScriptedServer([action(contact), action(email), answer("Sent to Priya Raman: Please provide the Q3 numbers.")])
    result = agent(server, "get_contact", "send_email").run(
        "Send Priya an email with the subject 'Budget' asking her for the Q3 numbers.")
    assert [t.rejected for t in result.turns] == [None, None, None]


# --- a number given in one thing and answered in another ------------------------------------------------


@pytest.mark.parametrize("text,task,sources,found", [
    ("250 NOK", "I've got 250 euros. What's that in Norwegian kroner (NOK)?", None, ("250", "NOK", "euros")),
    ("187.33 British pounds.", "AMZN share price in british pounds?", ['{"currency": "USD", "price": 187.33}'],
     ("187.33", "British pounds", "USD")),
    ("It is 5 km.", "Convert 5 miles to km", None, ("5", "km", "miles")),
    ("250 euros is 91.37 NOK.", "250 euros in NOK?", ['{"amount": 250, "result": 91.37, "to": "NOK"}'], None),
    ("250 EUR", "250 euros in NOK?", None, None),  # the same thing in a word the task does not use
    ("187.33 USD, about 171 GBP", "price in pounds?", ['{"currency": "USD", "price": 187.33}'], None),
    ("37 minutes", "How many minutes is the drive?", ['{"minutes": 37, "distance_km": 28.4}'], None),  # no unit said
    ("Set for 10 minutes.", "Set a timer for 10 minutes", None, None),
    # What the result names is its subject, no unit (seen: "amzn price?" answered "187.33 AMZN").
    ("187.33 AMZN", "amzn price?", ['{"currency": "USD", "price": 187.33, "symbol": "AMZN"}'], None),
    ("It costs 12 euros.", "What does it cost in euros?", ['{"prices": [{"currency": "USD", "amount": 12}]}'],
     ("12", "euros", "USD")),  # inside a list
    # The same unit in words: no conversion wanted (a review found these sent back).
    ("One AAPL share is 231.42 dollars.", "One AAPL share in dollars?", ['{"currency": "USD", "price": 231.42}'], None),
    ("It costs 12 euros.", "What does it cost in euros?", ['{"currency": "EUR", "price": 12}'], None),
    # A number given twice, in two things: either is its own.
    ("Timer set for 10 minutes.", "I ran 10 miles today. Set a timer for 10 minutes.", None, None),
    ("5 miles = 8.05 km", "Convert 5 and 10 miles to km", None, None),  # "5 and": no label
    # Only amounts beside a currency or unit field are in it; "community" is no unit field.
    ("You ordered 3 items.", "How many items?", ['{"currency": "USD", "quantity": 3, "price": 12}'], None),
    ("5000 people.", "How many people?", ['{"community": "Riverside", "population": 5000}'], None),
])
def test_relabelled_numbers(text, task, sources, found):
    assert relabelled(text, task, [task, *(sources or [])]) == found


def test_relabelled_never_raises_and_stays_linear():
    started = time.perf_counter()
    assert relabelled("1 a " * 50_000, "a " * 50_000, ["1 b " * 50_000, "[" * 100_000, '{"unit": "x", "v": 1}']) is None
    assert relabelled("", "", []) is None
    assert relabelled("1," * 10_000 + "1x", "x", ["1," * 10_000 + "1x"]) is None  # was quadratic
    assert time.perf_counter() - started < 5


@pytest.mark.parametrize("on", [True, False])
def test_a_conversion_no_tool_made_is_sent_back_and_the_converter_is_the_next_action(on):
    """Seen with the 0.5B model: "I've got 250 euros left over. What's that in Norwegian kroner (NOK)?" answered
    "250 NOK" with no call."""
    server = ScriptedServer([answer("250 NOK"), action(("convert_currency", {"amount": 250, "from_currency": "EUR",
                                                                              "to_currency": "NOK"})),
                             answer("250 euros is 91.37 NOK.")])
    task = "I've got 250 euros left over. What's that in Norwegian kroner (NOK)?"
    result = agent(server, "get_weather", "convert_currency", "convert_units", answer_check=on).run(task)
    if not on:
        assert result.text == "250 NOK" and len(server.requests) == 1
        return
    assert result.turns[0].rejected == "relabelled" and result.text == "250 euros is 91.37 NOK."
    note = server.requests[1]["messages"][-1]["content"]
    assert "250 in NOK" in note and "euros" in note and "convert_currency" in note
    # The converter (the one whose codes fit, not convert_units) is the only tool, its amount pinned.
    assert offered(server.requests[1]) == {"convert_currency"}
    assert "[250]" in json.dumps(server.requests[1]["response_format"]).replace(" ", "")


def test_a_conversion_with_no_tool_to_make_it_is_to_be_declined():
    server = ScriptedServer([answer("250 NOK"), answer("Sorry, I can't convert currencies.")])
    result = agent(server, "get_weather", "get_time").run("I've got 250 euros. What's that in NOK?")
    assert result.turns[0].rejected == "relabelled" and "say you can't" in server.requests[1]["messages"][-1]["content"]
    assert result.text == "Sorry, I can't convert currencies."


# --- steps that ran out with results just in ---------------------------------------------------------------


@pytest.mark.parametrize("on", [True, False])
def test_steps_that_run_out_after_results_get_one_answer_only_request(on):
    """Seen with the 0.5B model: the note found, the owner's address looked up and the email sent on the sixth
    step, the run stopped with no answer."""
    server = ScriptedServer([action(("get_weather", {"city": "Oslo"})), action(("get_weather", {"city": "Rome"})),
                             answer("Oslo 7 C, Rome 19 C.")])
    a = Agent([TOOLS["get_weather"]], client=server.client(), constrained=True, max_steps=2,
              techniques=Techniques(wrap_up=on))
    result = a.run("Weather in Oslo and in Rome?")
    if not on:
        assert result.stop_reason == "max_steps" and result.text == "" and len(server.requests) == 2
        return
    assert result.stop_reason == "final_answer" and result.text == "Oslo 7 C, Rome 19 C."
    assert offered(server.requests[-1]) == {"final_answer"} and len(result.turns) == 3


def test_no_request_after_the_steps_in_free_mode():
    """A free reply could call a tool again past the limit (a review found a fourth tool run with max_steps=3)."""
    call = '<tool_call>{"name": "get_weather", "arguments": {"city": "Oslo"}}</tool_call>'
    from scripted import Reply
    server = ScriptedServer([Reply(call), Reply(call)])
    a = Agent([TOOLS["get_weather"]], client=server.client(), constrained=False, max_steps=2)
    result = a.run("Weather in Oslo?")
    assert result.stop_reason == "max_steps" and len(server.requests) == 2


def test_the_answer_after_the_steps_is_checked_and_none_follows_refused_calls():
    # Sent back (a number no result holds): the run stops at max_steps, with no answer and no request more.
    server = ScriptedServer([action(("get_weather", {"city": "Oslo"})), answer("Oslo is 31 C.")])
    a = Agent([TOOLS["get_weather"]], client=server.client(), constrained=True, max_steps=1)
    result = a.run("Weather in Oslo?")
    assert (result.stop_reason, result.text, len(server.requests)) == ("max_steps", "", 2)
    # The last step's calls were all refused (a city nobody said): no results to report, no request more.
    server = ScriptedServer([action(("get_weather", {"city": "Lima"}))])
    a = Agent([TOOLS["get_weather"]], client=server.client(), constrained=True, max_steps=1)
    assert (a.run("Weather in Oslo?").stop_reason, len(server.requests)) == ("max_steps", 1)


# --- a value that names what another tool finds ------------------------------------------------------------


def test_a_value_that_is_another_tools_thing_is_found_with_that_tool_first():
    """Seen with the 0.5B model: "Who owns the vendor audit note? I'd like their phone number." called get_contact
    with name 'Vendor Audit Note', then made up a number."""
    server = ScriptedServer([action(("get_contact", {"name": "Vendor Audit Note"})),
                             action(("search_notes", {"query": "Vendor Audit Note"})),
                             action(("get_contact", {"name": "Priya"})), answer("Priya: +91 98 7654 3210")])
    result = agent(server, "search_notes", "get_contact").run("Who owns the vendor audit note? I'd like their phone number.")
    note = server.requests[1]["messages"][-1]["content"]
    assert "'Vendor Audit Note': that is a note, and search_notes finds it" in note
    assert offered(server.requests[1]) == {"search_notes", "ask_user"}  # that lookup (or a question), its query pinned
    assert '["Vendor Audit Note"]' in json.dumps(server.requests[1]["response_format"])
    # Once it ran, the refused call is named with the one person the note names (a note's prose, no field).
    assert "Now call get_contact with name 'Priya'" in server.requests[2]["messages"][-1]["content"]
    assert [r.name for t in result.turns for r in t.results if r.ok] == ["search_notes", "get_contact"]
    assert result.text == "Priya: +91 98 7654 3210"


@pytest.mark.parametrize("tool,arguments,tools", [
    ("read_file", {"path": "notes.txt"}, ["read_file", "search_notes"]),  # a file, not a note
    ("get_contact", {"name": "Note"}, ["search_notes", "get_contact"]),  # one word: no thing's name
    ("get_contact", {"name": "Nora Weather"}, ["get_weather", "get_contact", "get_time"]),  # a person
    # Text the call carries, not a lookup's key (a review found both refused).
    ("create_reminder", {"text": "Check the weather", "when": "tomorrow 8am"}, ["create_reminder", "get_weather"]),
    ("send_email", {"to": "bob@example.net", "subject": "Meeting notes", "body": "we ship on friday"},
     ["send_email", "search_notes"]),
])
def test_a_value_that_names_no_other_tools_thing_runs(tool, arguments, tools):
    server = ScriptedServer([action((tool, arguments)), answer("ok")])
    result = agent(server, *tools, lookup=True).run(f"Use {' '.join(map(str, arguments.values()))} please")
    refusals = [r.output for t in result.turns for r in t.results if not r.ok]
    assert not any("finds it" in r for r in refusals)


# --- prose written before the tool the task speaks of has run ------------------------------------------------

SUMMARY = "Email Alice a short summary of my notes on the onboarding project."
MADE_UP = "I'm working on the onboarding project. Let me know if you have questions."


def test_prose_written_before_the_tool_the_task_speaks_of_is_refused_and_that_tool_runs_first():
    """Seen with the 0.5B model: the summary of "my notes" was sent with a body it made up, no note read."""
    server = ScriptedServer([action(("send_email", {"to": "alice@example.org", "subject": "Onboarding", "body": MADE_UP})),
                             action(("search_notes", {"query": "onboarding project"})),
                             action(("send_email", {"to": "alice@example.org", "subject": "Onboarding",
                                                    "body": "Onboarding: discussed on Tuesday, owner Priya."})),
                             answer("Sent to alice@example.org: discussed on Tuesday, owner Priya.")])
    result = agent(server, "send_email", "search_notes", "get_contact").run(SUMMARY + " Her address is alice@example.org.")
    note = server.requests[1]["messages"][-1]["content"]
    assert "body is to come from what search_notes finds" in note
    assert offered(server.requests[1]) == {"search_notes"}
    schema = json.dumps(server.requests[1]["response_format"])
    assert '"onboarding project"' in schema and '"notes"' not in schema  # its query a piece of the task
    # After the notes are in, the refused call again is the next action, its sound values as they were.
    assert "Now call send_email again, with body written from this result." in server.requests[2]["messages"][-1]["content"]
    assert offered(server.requests[2]) == {"send_email"} and '["alice@example.org"]' in json.dumps(server.requests[2]["response_format"])
    # The body may be only what the notes found say, word for word (told to write it from them, the model had
    # sent the made-up body again).
    assert '"body": {"enum": ["Note: onboarding project -- discussed on Tuesday' in json.dumps(server.requests[2]["response_format"])
    assert [r.name for t in result.turns for r in t.results if r.ok] == ["search_notes", "send_email"]


@pytest.mark.parametrize("task,body,other", [
    ("Could you send alice@example.org a note that Friday's game is cancelled?", MADE_UP, "search_notes"),  # dictated
    ("Email alice@example.org about the onboarding project.", MADE_UP, "search_notes"),  # no other tool's thing
    (SUMMARY + " Her address is alice@example.org.", "Summary attached.", "search_notes"),  # short: no prose
    # Another part of the task, and prose that names the tool itself (a review found both refused).
    ("Send alice@example.org a thank-you email for the dinner, and set a timer for 10 minutes.",
     "Thank you so much for the lovely dinner last night, it was great.", "set_timer"),
    ("Email alice@example.org to check the weather in Oslo before she leaves home.",
     "Please check the weather in Oslo before you leave home today.", "get_weather"),
])
def test_prose_the_user_dictated_or_no_tool_sources_runs(task, body, other):
    server = ScriptedServer([action(("send_email", {"to": "alice@example.org", "subject": "Hi", "body": body})),
                             answer("Sent.")])
    result = agent(server, "send_email", other, copied=False).run(task)
    assert not any("finds, which the task speaks of" in r.output for t in result.turns for r in t.results)


# --- our examples' wording, with results in to write from -----------------------------------------------------

PORT = "Bob needs the server port. Look it up in config.ini and email it to him."


def test_examples_wording_with_results_in_is_written_again_from_the_users_words_not_asked_for():
    """Seen with the 0.5B model: "Bob needs the server port. Look it up in config.ini and email it to him." asked
    the user for a subject line (the subject was "Order for taxi"); kept through the address's lookup, refused again."""
    body = "The server port is 8443."
    server = ScriptedServer([action(("read_file", {"path": "config.ini"})),
                             action(("send_email", {"to": "bob.l@example.net", "subject": "Order for taxi", "body": body})),
                             action(("send_email", {"to": "bob.l@example.net", "subject": "server port", "body": body})),
                             answer("Sent to bob.l@example.net: the port is 8443.")])
    a = Agent([answering("read_file", '{"content": "[server]\\nport = 8443"}'), TOOLS["send_email"], TOOLS["get_contact"]],
              client=server.client(), constrained=True)
    result = a.run(PORT + " His address is bob.l@example.net.")
    note = server.requests[2]["messages"][-1]["content"]
    assert "subject is wording from our examples" in note and "ask_user" not in note
    assert offered(server.requests[2]) == {"send_email"}  # the call again, its subject one of the user's phrases
    assert '"subject": {"enum": ["server port", ' in json.dumps(server.requests[2]["response_format"])
    assert [r.name for t in result.turns for r in t.results if r.ok] == ["read_file", "send_email"]


def test_examples_wording_with_no_results_in_is_still_asked_for():
    server = ScriptedServer([action(("send_email", {"to": "alice.moreau@example.org", "subject": "Order for taxi",
                                                    "body": "I'm ordering a taxi to the station."})),
                             answer("What should the email say?")])
    result = agent(server, "send_email").run("Send an email to alice.moreau@example.org.")
    assert "ask_user" in offered(server.requests[1]) and "send_email" not in offered(server.requests[1])
    assert not any(r.ok for t in result.turns for r in t.results)


def test_a_conversion_made_already_is_pointed_at_not_made_again():
    """Seen with the 0.5B model: with 231.42 USD converted (91.37 EUR in), it answered "231.42 euros."; told to
    convert, it made the same call again and answered the same."""
    converted = '{"amount": "231.42", "from": "USD", "rate": 0.9137, "result": 91.37, "to": "EUR"}'
    server = ScriptedServer([action(("get_stock_price", {"symbol": "AAPL"})),
                             action(("convert_currency", {"amount": 231.42, "from_currency": "USD", "to_currency": "EUR"})),
                             answer("231.42 euros."), answer("91.37 euros.")])
    a = Agent([answering("get_stock_price", '{"currency": "USD", "price": 231.42, "symbol": "AAPL"}'),
               answering("convert_currency", converted)], client=server.client(), constrained=True)
    result = a.run("How much is one AAPL share worth in euros?")
    assert result.turns[2].rejected == "relabelled" and result.text == "91.37 euros."
    note = server.requests[3]["messages"][-1]["content"]
    assert "convert_currency converted it" in note and "91.37" in note and "Call convert_currency" not in note
    assert offered(server.requests[3]) == {"final_answer"}


@pytest.mark.parametrize("repair", [True, False])
def test_a_kind_the_user_put_on_the_tools_noun_fills_its_open_option(repair):
    """Seen with the 0.5B model: "Can you find me a seafood restaurant in Lisbon?" searched Lisbon, cuisine left out."""
    server = ScriptedServer([action(("find_restaurants", {"city": "Lisbon"})), answer("Casa Lumen (Lisbon).")])
    result = agent(server, "find_restaurants", "get_weather", repair=repair).run(
        "Can you find me a seafood restaurant in Lisbon?")
    assert result.turns[0].results[0].arguments == ({"city": "Lisbon", "cuisine": "seafood"} if repair else {"city": "Lisbon"})


def test_a_text_a_result_gave_is_kept_when_the_refused_call_is_filled():
    note = "Note: onboarding project -- discussed on Tuesday, owner Priya, next review on the 14th."
    server = ScriptedServer([action(("search_notes", {"query": "onboarding project"})),
                             action(("send_email", {"to": "Alice", "subject": "onboarding project", "body": note})),
                             action(("get_contact", {"name": "Alice"})),
                             action(("send_email", {"to": "alice.moreau@example.org", "subject": "onboarding project",
                                                    "body": note})), answer("Sent to alice.moreau@example.org.")])
    agent(server, "search_notes", "send_email", "get_contact").run(SUMMARY)
    schema = json.dumps(server.requests[3]["response_format"])
    assert '"to": {"enum": ["alice.moreau@example.org"]}' in schema and f'"body": {{"enum": [{json.dumps(note)}]}}' in schema
