"""pin: the values a note names for the next call are the only ones guided decoding lets it take, and a lookup
named "with what the user gave" takes a piece of what was said (no live server)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from harness import events as ev
from harness.agent import Agent
from harness.constrained import action_schema, pinned
from harness.grounding import spans, ungrounded_arguments
from harness.prompt import echoes_harness
from harness.refusals import GUESSED
from harness.techniques import Techniques
from harness.tools import ToolSet
from harness.tooluse import load_tools
from scripted import ScriptedServer, action, answer, offered

TOOLS = load_tools()
FLIGHTS = ("search_flights", "get_airport_code")
CONTACT = '{"email": "t.novak@example.cz", "name": "Tomas Novak", "phone": "+420 601 222 333"}'


def agent(server: ScriptedServer, *names: str, **techniques: bool) -> Agent:
    return Agent([TOOLS[n] for n in names], client=server.client(), constrained=True,
                 techniques=Techniques(**techniques))


def choices(request: dict[str, Any], tool: str, parameter: str) -> Any:
    """What a request's guided-decoding schema lets ``tool``'s ``parameter`` take: its enum, or None if free."""
    schema = request["response_format"]["json_schema"]["schema"]
    option = next(o for o in schema.get("items", schema)["anyOf"] if o["properties"]["name"]["const"] == tool)
    return option["properties"]["arguments"]["properties"][parameter].get("enum")


# --- the schema, and the pieces of what was said ----------------------------------------------------


def test_pinned_lets_a_parameter_take_only_the_named_values_and_leaves_the_rest():
    schema = action_schema(ToolSet([TOOLS["search_flights"], TOOLS["get_airport_code"]]), parallel=True)
    pins = {"get_airport_code": {"city": ["lisbon", "oslo"]}, "search_flights": {"nope": ["x"]}}
    out = pinned(schema, pins)
    request = {"response_format": {"json_schema": {"schema": out}}}
    assert choices(request, "get_airport_code", "city") == ["lisbon", "oslo"]
    assert choices(request, "search_flights", "origin") is None  # other tools as they were
    assert "nope" not in out["items"]["anyOf"][0]["properties"]["arguments"]["properties"]
    assert schema == action_schema(ToolSet([TOOLS["search_flights"], TOOLS["get_airport_code"]]), parallel=True)


@pytest.mark.parametrize("text,some,none", [
    ("pls email tomas that im out sick today and wont make the standup", ["tomas"], ["pls", "email tomas", "tomas that"]),
    ("Has John Smith's last order arrived yet?", ["John Smith"], ["Smith last order", "John Smith's"]),
    ("I need to get from Madrid to Berlin on 5 January 2027.", ["Madrid", "Berlin", "5 January 2027"],
     ["Madrid to Berlin", "from Madrid"]),
    ("flights lisbon -> oslo, 2026-12-30?", ["lisbon", "oslo", "2026-12-30"], ["lisbon -> oslo"]),
    ("Translate 'good morning' into German", ["good morning", "German"], ["into German"]),
    ("Who runs Bank of America?", ["Bank of America"], ["Who", "Who runs", "America?"]),
    ("", [], [""]),
])
def test_spans_are_the_pieces_a_lookup_may_take(text, some, none):
    found = spans(text)
    assert all(s in found for s in some), found
    assert not any(s in found for s in none), found


def test_spans_are_linear_bounded_and_never_raise():
    started = time.perf_counter()
    assert len(spans("word " * 1_000_000)) <= 200
    for garbage in ["'" * 100_000, "\"a" * 50_000, "’s " * 100_000, "\x00\n" * 10_000]:
        assert isinstance(spans(garbage), list)
    assert time.perf_counter() - started < 5


def test_a_date_the_user_wrote_in_words_grounds_the_same_date_in_digits():
    schema = TOOLS["search_flights"].parameters
    said = "I need to get from Madrid to Berlin on 5 January 2027."
    assert "date" not in ungrounded_arguments({"origin": "MAD", "destination": "BER", "date": "2027-01-05"}, schema,
                                              said + " MAD BER")
    assert "date" in ungrounded_arguments({"origin": "MAD", "destination": "BER", "date": "2027-02-05"}, schema,
                                          said + " MAD BER")


def test_a_sentence_of_a_note_that_quotes_the_user_is_no_echo_of_the_harness():
    note = ('Not run: body is wording from our examples. Call send_email again with body saying what the user said: '
            '"Friday\'s game is cancelled".')
    answer_text = "Sent to bob.l@example.net: Friday's game is cancelled."
    assert echoes_harness(answer_text, [note])  # without the user's words, it reads as ours
    assert not echoes_harness(answer_text, [note], user="Could you send Bob a note that Friday's game is cancelled?")
    assert echoes_harness("Call send_email again with body saying what the user said", [note],
                          user="Could you send Bob a note that Friday's game is cancelled?")


# --- the agent: each note's values pinned next turn ---------------------------------------------------


@pytest.mark.parametrize("pin", [True, False])
def test_the_cities_a_lookup_is_named_with_are_the_only_ones_it_takes(pin):
    """Seen with the 0.5B model: told to call get_airport_code with city 'lisbon', it called it with 'LISBO'."""
    server = ScriptedServer([
        action(("search_flights", {"origin": "LISBO", "destination": "OSLO", "date": "2026-12-30"})),
        action(("get_airport_code", {"city": "lisbon"}), ("get_airport_code", {"city": "oslo"})),
        answer("Which day?"),
    ])
    result = agent(server, *FLIGHTS, pin=pin).run("flights lisbon -> oslo, 2026-12-30?")
    assert result.turns[0].pins == ({"get_airport_code": {"city": ["lisbon", "oslo"]}} if pin else {})
    assert choices(server.requests[1], "get_airport_code", "city") == (["lisbon", "oslo"] if pin else None)
    # With both codes found: the flights' call takes them, and the date it gave before stays.
    assert choices(server.requests[2], "search_flights", "origin") == (["LIS"] if pin else None)
    assert choices(server.requests[2], "search_flights", "destination") == (["OSL"] if pin else None)
    assert choices(server.requests[2], "search_flights", "date") == (["2026-12-30"] if pin else None)


@pytest.mark.parametrize("pin", [True, False])
def test_a_lookup_with_what_the_user_gave_takes_a_piece_of_what_they_said(pin):
    """Seen with the 0.5B model: told to call get_contact "with what the user gave", it looked up the email
    address it had guessed, 'matas@mycompany.com'."""
    server = ScriptedServer([
        action(("send_email", {"to": "matas@mycompany.com", "subject": "Sick", "body": "I'm out sick today."})),
        action(("get_contact", {"name": "tomas"})),
        action(("send_email", {"to": "t.novak@example.cz", "subject": "Sick", "body": "I'm out sick today."})),
        answer("Sent to t.novak@example.cz."),
    ])
    result = agent(server, "get_contact", "send_email", pin=pin).run(
        "pls email tomas that im out sick today and wont make the standup")
    assert "call get_contact first, with what the user gave" in result.turns[0].results[0].output
    names = choices(server.requests[1], "get_contact", "name")
    if not pin:
        assert names is None
        return
    assert "tomas" in names and "matas@mycompany.com" not in names and "pls" not in names
    assert choices(server.requests[2], "send_email", "to") == ["t.novak@example.cz"]  # fill's value
    assert offered(server.requests[3]) == {"final_answer"}  # the task asks for no other tool
    assert result.text == "Sent to t.novak@example.cz."


def test_a_second_lookup_takes_none_of_the_words_looked_up_before():
    """Seen with the 0.5B model: with Madrid's code found, it looked Madrid up again for the destination, and
    then 'Madrid to Berlin'; the flights' call after it took origin 'Berlin' (it had 'MAD')."""
    server = ScriptedServer([
        action(("search_flights", {"origin": "CDG", "destination": "OBL", "date": "2027-01-05"})),
        action(("get_airport_code", {"city": "Madrid"})),
        action(("search_flights", {"origin": "MAD", "destination": "OBL", "date": "2027-01-05"})),
        action(("get_airport_code", {"city": "Berlin"})),
        action(("search_flights", {"origin": "MAD", "destination": "BER", "date": "2027-01-05"})),
        answer("HX 412, 129 EUR."),
    ])
    result = agent(server, *FLIGHTS).run("I need to get from Madrid to Berlin on 5 January 2027. What flights are "
                                         "there, and how much?")
    first, second = choices(server.requests[1], "get_airport_code", "city"), \
        choices(server.requests[3], "get_airport_code", "city")
    assert "Madrid" in first and "Berlin" in first
    assert "Berlin" in second and not any("Madrid" in c for c in second)
    assert choices(server.requests[4], "search_flights", "destination") == ["BER"]
    assert choices(server.requests[4], "search_flights", "origin") == ["MAD"]  # as the refused call had it
    assert result.turns[4].results[0].ok and result.text == "HX 412, 129 EUR."


def test_a_body_rewritten_from_the_users_words_takes_those_words():
    """Seen with the 0.5B model: told to write the body the user said, it pasted the examples' decline twice."""
    decline = "I'm sorry, but I can't do that: none of my tools can."
    server = ScriptedServer([
        action(("get_contact", {"name": "Bob"})),
        action(("send_email", {"to": "bob.l@example.net", "subject": "Game", "body": decline})),
        action(("send_email", {"to": "bob.l@example.net", "subject": "Game", "body": "Friday's game is cancelled"})),
        answer("Sent to bob.l@example.net: Friday's game is cancelled."),
    ])
    result = agent(server, "get_contact", "send_email").run("Could you send Bob a note that Friday's game is cancelled?")
    assert "saying what the user said" in result.turns[1].results[0].output
    assert choices(server.requests[2], "send_email", "body") == ["Friday's game is cancelled"]
    # The answer quotes the user's words, which the note quoted too: it is no echo.
    assert result.turns[-1].rejected is None and result.text == "Sent to bob.l@example.net: Friday's game is cancelled."


def test_a_pinned_number_takes_the_parameters_type():
    a = agent(ScriptedServer([answer("x")]), "convert_currency")
    turn = ev.TurnRecord(raw_text="")
    a._pin(turn, "convert_currency", "amount", ["187.33", "1,200", "many"])
    a._pin(turn, "convert_currency", "from_currency", ["USD"])
    a._pin(turn, "convert_currency", "nope", ["x"])
    assert turn.pins == {"convert_currency": {"amount": [187.33, 1200], "from_currency": ["USD"]}}


# --- the files a task names are read first ------------------------------------------------------------


@pytest.mark.parametrize("pin", [True, False])
def test_the_files_a_task_names_are_read_first(pin):
    """Seen with the 0.5B model: "What's on my list in todo.md?" listed the folder first; "Show me what's in
    todo.md and in config.ini." listed a folder named 'todo.md'."""
    server = ScriptedServer([action(("read_file", {"path": "todo.md"}), ("read_file", {"path": "config.ini"})),
                             answer("todo.md: passport. config.ini: port 8443.")], answer_probabilities=[0.1])
    result = agent(server, "read_file", "list_files", pin=pin).run("Show me what's in todo.md and in config.ini.")
    if not pin:
        assert offered(server.requests[0]) == {"read_file", "list_files", "final_answer"} and len(server.probes) == 1
        return
    assert offered(server.requests[0]) == {"read_file"} and not server.probes  # a call: nothing to decide
    assert choices(server.requests[0], "read_file", "path") == ["todo.md", "config.ini"]
    assert result.turns[0].coded == "read_file" and [r.ok for r in result.turns[0].results] == [True, True]


@pytest.mark.parametrize("task,first", [
    ("Read todo.md and set a reminder for tomorrow at 9am about the first item.", True),  # the reader's verb too
    ("Put the team meeting described in notes.txt on my calendar.", True),
    ("Set a timer for the minutes written in notes.txt.", True),  # "set" says no tool: set_timer, create_event...
    ("Translate the first line of notes.txt into French.", False),  # another tool's verb, and not the reader's
    ("Delete config.ini from my workspace.", False),  # no tool deletes: decide declines
    ("What's the weather in Oslo?", False),  # no file
])
def test_a_named_file_is_read_first_only_where_the_task_asks_for_nothing_else_first(task, first):
    server = ScriptedServer([answer("Done.")])
    agent(server, "read_file", "list_files", "create_reminder", "set_timer", "create_event", "get_weather",
          "translate").run(task)
    assert (offered(server.requests[0]) == {"read_file"}) is first


def test_a_lower_case_sibling_is_pinned_with_the_users_phrases_that_hold_it():
    """Seen with the 0.5B model: "what time is it in new york and in london" looked up London; the sibling read a
    word at a time is 'york', and pinned to it alone, it looked up 'york'."""
    server = ScriptedServer([action(("get_time", {"city": "london"})), action(("get_time", {"city": "new york"})),
                             answer("London 12:40, New York 07:40.")])
    result = agent(server, "get_time", "get_weather").run("what time is it in new york and in london")
    assert "Now call get_time with city 'york' too" in server.requests[1]["messages"][-1]["content"]
    assert choices(server.requests[1], "get_time", "city") == ["york", "new york"]
    assert [r.arguments["city"] for t in result.turns for r in t.results] == ["london", "new york"]


def test_a_sibling_that_is_part_of_a_value_looked_up_is_no_call_to_make():
    """Seen with the 0.5B model: both cities looked up ("New York", "London"), the hint still asked for 'york'."""
    server = ScriptedServer([action(("get_time", {"city": "New York"}), ("get_time", {"city": "London"})),
                             answer("New York 07:40, London 12:40.")])
    result = agent(server, "get_time").run("what time is it in new york and in london")
    assert "Now call" not in server.requests[1]["messages"][-1]["content"]
    assert result.text == "New York 07:40, London 12:40."


def test_the_tool_an_uncovered_part_names_takes_a_piece_of_that_part():
    """Seen with the 0.5B model: "Define 'sonder', and translate 'good morning' into German." translated; told to
    call get_definition, it defined 'good morning'."""
    server = ScriptedServer([action(("translate", {"text": "good morning", "target_language": "German"})),
                             answer("Guten Morgen."), action(("get_definition", {"word": "sonder"})),
                             answer("Guten Morgen. Sonder: the sense that every passer-by has a life as vivid as yours.")])
    result = agent(server, "translate", "get_definition").run("Define 'sonder', and translate 'good morning' into German.")
    assert result.turns[1].rejected == "untried" and offered(server.requests[2]) == {"get_definition"}
    words = choices(server.requests[2], "get_definition", "word")
    assert "sonder" in words and "good morning" not in words
    assert [r.arguments for t in result.turns for r in t.results][-1] == {"word": "sonder"}


def test_an_uncovered_part_with_no_piece_of_its_own_pins_nothing():
    """ "what's the weather there today": the city is in the other part (seen pinned to 'weather', it was refused)."""
    server = ScriptedServer([action(("get_population", {"place": "Lima"})), answer("Lima: 10092000 people."),
                             action(("get_weather", {"city": "Lima"})), answer("Lima: 10092000 people, foggy, 17 C.")])
    result = agent(server, "get_population", "get_weather").run(
        "How many people live in Lima, and what's the weather there today?")
    assert result.turns[1].rejected == "untried" and offered(server.requests[2]) == {"get_weather"}
    assert choices(server.requests[2], "get_weather", "city") is None and result.turns[1].pins == {}


# --- a person a question names is looked up first -------------------------------------------------------


@pytest.mark.parametrize("lookup", [True, False])
def test_a_question_that_names_a_person_looks_them_up_first(lookup):
    """Seen with the 0.5B model: "I want to ring Alice this afternoon. What number should I dial?" gave
    answering 49% and the answer "123-456-7890"."""
    replies = [action(("get_contact", {"name": "Alice"})), answer("Alice Moreau: +33 6 12 34 56 78")] if lookup \
        else [answer("123-456-7890")]
    server = ScriptedServer(replies, answer_probabilities=[0.49], decline_probabilities=[0.0])
    result = agent(server, "get_contact", "send_email", lookup=lookup).run(
        "I want to ring Alice this afternoon. What number should I dial?")
    assert offered(server.requests[0]) == ({"get_contact"} if lookup else {"final_answer"})
    assert result.turns[0].coded == ("get_contact" if lookup else None)
    if lookup:
        assert choices(server.requests[0], "get_contact", "name") == ["Alice"]
        assert result.turns[0].then == []  # send_email takes the address it finds, but the question asks no email
        assert result.text == "Alice Moreau: +33 6 12 34 56 78"


def test_the_call_a_person_lookup_feeds_is_named_next():
    """Seen with the 0.5B model: "Li Wei is asking about their order. What's the status?" called track_package
    with a made-up number; looked up first, it answered "in transit" without get_orders."""
    server = ScriptedServer([action(("lookup_customer", {"name": "Li Wei"})), action(("get_orders", {"customer_id": "C-9034"})),
                             answer("O-6004: processing, mechanical keyboard.")],
                            answer_probabilities=[0.21], decline_probabilities=[0.0])
    result = agent(server, "lookup_customer", "get_orders", "track_package", "send_email").run(
        "Li Wei is asking about their order. What's the status?")
    assert offered(server.requests[0]) == {"lookup_customer"} and result.turns[0].then == [("get_orders", "customer_id")]
    assert "Now call get_orders with customer_id 'C-9034', from this result." in server.requests[1]["messages"][-1]["content"]
    assert offered(server.requests[1]) == {"get_orders"} and choices(server.requests[1], "get_orders", "customer_id") == ["C-9034"]
    assert [c.name for t in result.turns for c in t.calls] == ["lookup_customer", "get_orders", "final_answer"]


@pytest.mark.parametrize("task,tools", [
    ("What time is it in Denver?", ("get_contact", "get_time")),  # a place: no word of the question is get_contact's
    ("Email Alice the report.", ("get_contact", "send_email")),  # no question: send_email's refusal finds her
    ("What's Priya's phone number?", ("get_contact", "lookup_customer")),  # two tools take a name: the model's choice
    # The task asks for another tool too: the weather comes first, the person after.
    ("What's the weather in Lima right now? Email it to Bob.", ("get_contact", "send_email", "get_weather")),
])
def test_no_person_lookup_where_the_question_is_no_such(task, tools):
    server = ScriptedServer([answer("ok")], answer_probabilities=[0.49], decline_probabilities=[0.0])
    result = agent(server, *tools).run(task)
    assert result.turns[0].coded is None and "final_answer" in offered(server.requests[0])


@pytest.mark.parametrize("task,names", [
    ("I want to ring Alice this afternoon. What number should I dial?", ["Alice"]),
    ("Li Wei is asking about their order. What's the status?", ["Li Wei"]),
    ("Has John Smith's last order arrived yet?", ["John Smith"]),
    ("Send Keiko a WhatsApp message saying happy birthday.", ["Keiko"]),
    ("Email Alice the report.", ["Alice"]),
    ("Tomorrow is fine. What's 'Hello' in French?", ["French"]),
    ("Tomorrow Alice needs the report. What's her email?", ["Alice"]),  # a time word opens the sentence
    ("Hello Bob, how are you?", ["Bob"]),  # quoted words are none; places and languages are
    ("", []),
])
def test_people(task, names):
    from harness.claims import people

    assert people(task) == names


def test_people_never_raises_and_stays_linear():
    import time

    from harness.claims import people, shares_words

    assert people(None) == [] and shares_words(None, [None]) is False  # type: ignore[arg-type]
    started = time.perf_counter()
    people("Alice " * 1_000_000)
    people("A" + "a" * 1_000_000)
    shares_words("order " * 1_000_000, ["orders"] * 1_000_000)
    assert time.perf_counter() - started < 2


def test_a_lookup_by_name_takes_the_one_person_the_results_name():
    """Seen with the 0.5B model: "Find my note about the launch plan and email its owner ..." found "owner
    Priya"; send_email with a made-up address was refused with "call get_contact first, with what the user
    gave", and it answered instead."""
    server = ScriptedServer([
        action(("search_notes", {"query": "launch plan"})),
        action(("send_email", {"to": "+1 555 0100", "subject": "Launch plan review", "body": "The review is coming up."})),
        action(("get_contact", {"name": "Priya"})),
        answer("unused")])
    agent(server, "search_notes", "get_contact", "send_email").run(
        "Find my note about the launch plan and email its owner a reminder that the review is coming up.")
    refusal = server.requests[2]["messages"][-1]["content"]
    assert "call get_contact with name 'Priya' first" in refusal
    assert choices(server.requests[2], "get_contact", "name") == ["Priya"]
    # Its result names the address next (fill), as for a name the user gave.
    assert "Now call send_email with to 'priya.raman@example.com', from this result." in \
        server.requests[3]["messages"][-1]["content"]


@pytest.mark.parametrize("untried", [True, False])
def test_a_guessed_call_of_a_tool_the_task_does_not_name_points_at_the_one_it_does(untried):
    """Seen with the 0.5B model: "Read todo.md and set a reminder for tomorrow at 9am about the first item" read
    the file, then called set_timer with 9 minutes (a guess), and was told to ask for the timer's length."""
    server = ScriptedServer([
        action(("read_file", {"path": "todo.md"})),
        action(("set_timer", {"minutes": 9, "label": "First item"})),
        action(("create_reminder", {"text": "renew passport", "when": "tomorrow 9am"}) if untried
               else ("ask_user", {"question": "How long?"})),
        answer("Reminder set for tomorrow 9am: renew passport.")])
    result = agent(server, "read_file", "set_timer", "create_reminder", untried=untried).run(
        "Read todo.md and set a reminder for tomorrow at 9am about the first item on the list.")
    refusal = result.turns[1].results[0].output
    assert refusal.startswith(GUESSED)
    assert ("The task asks for create_reminder: call create_reminder instead." in refusal) is untried
    assert offered(server.requests[2]) == ({"create_reminder", "ask_user"} if untried else {"ask_user"})


def test_a_rewrite_never_pins_the_value_it_refused():
    """Found in review: with no words of the user's for the body, the refused body was pinned as the only one."""
    decline = "I'm sorry, but I can't do that: none of my tools can."
    server = ScriptedServer([action(("send_email", {"to": "bob.l@example.net", "subject": "Game", "body": decline})),
                             action(("send_email", {"to": "bob.l@example.net", "subject": "Game", "body": "Friday's game."})),
                             answer("Sent to bob.l@example.net: Friday's game.")])
    result = agent(server, "send_email", "get_contact").run("Email bob.l@example.net about Friday's game.")
    assert result.turns[0].results[0].output.startswith("Not run: body is wording from our examples")
    assert choices(server.requests[1], "send_email", "body") is None  # to be written again
    assert choices(server.requests[1], "send_email", "to") == ["bob.l@example.net"]


def test_no_tool_named_instead_where_the_task_speaks_of_the_called_one():
    """Found in review: "How do I walk to Central Station?" with a guessed origin was sent to get_weather
    ("this weather"), not asked where from."""
    server = ScriptedServer([action(("get_directions", {"origin": "Home", "destination": "Central Station"})),
                             action(("ask_user", {"question": "Where to start?"}))])
    result = agent(server, "get_directions", "get_weather").run(
        "How do I walk to Central Station? Walking in this weather is no fun.")
    refusal = result.turns[0].results[0].output
    assert refusal.startswith(GUESSED) and "instead" not in refusal and result.turns[0].instead == ""
    assert offered(server.requests[1]) == {"ask_user"}


def test_the_people_a_result_names_are_in_its_prose():
    """Found in review: a status "Shipped" or a city "Paris", each a whole value, counted as a person."""
    from harness.grounding import text_values

    assert text_values('{"status": "Shipped", "city": "Paris", "note": "owner Priya, review on the 14th"}') == \
        ["Shipped", "Paris", "owner Priya, review on the 14th"]
    assert text_values("plain text, not JSON") == ["plain text, not JSON"] and text_values(None) == []  # type: ignore[arg-type]
    from tools import ToolResult

    a = agent(ScriptedServer([]), "get_contact")
    for output, found in [('{"status": "Shipped", "city": "Paris"}', []),
                          ('{"matches": ["Note: launch plan, owner Priya, next review on the 14th."]}', ["Priya"])]:
        a.turns = [ev.TurnRecord(raw_text="", results=[ToolResult("search_notes", {}, output)])]
        assert a._people_found() == found


def test_a_question_word_that_names_the_uncovered_tool_is_no_piece_of_its_part():
    """Seen with the 0.5B model: "In Sydney: what time is it, and how warm is it?" with the time in, get_weather
    was pinned to 'warm' (of "how warm is it") and looked up a city called "warm"."""
    server = ScriptedServer([action(("get_time", {"city": "Sydney"})), answer("23:40"),
                             action(("get_weather", {"city": "Sydney"})), answer("23:40, mild, 16 C.")])
    result = agent(server, "get_time", "get_weather").run("In Sydney: what time is it, and how warm is it?")
    assert result.turns[1].rejected == "untried" and offered(server.requests[2]) == {"get_weather"}
    assert choices(server.requests[2], "get_weather", "city") is None
