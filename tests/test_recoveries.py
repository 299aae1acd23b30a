"""What the harness does where the 0.5B model's action would waste the run: an answer beside a call it
already made, a near copy of the user's word, a pair taken for a list, a tool the task names left
unrun, an answer looping until max_tokens (no live server)."""

from __future__ import annotations

import json
import re
import time

import pytest

from harness.agent import Agent
from harness.claims import described_files, named_files, named_tools, uncovered_tools
from harness.constrained import unlooped
from harness.grounding import said_part
from harness.techniques import Techniques
from harness.tooluse import load_tools
from scripted import Reply, ScriptedServer, action, answer, offered

TOOLS = load_tools()


def agent(server: ScriptedServer, *names: str, **techniques: bool) -> Agent:
    return Agent([TOOLS[n] for n in names], client=server.client(), constrained=True,
                 techniques=Techniques(**techniques))


def ran(result) -> list[tuple[str, dict]]:
    return [(r.name, r.arguments) for t in result.turns for r in t.results if r.ok]


# --- an answer beside a call already made --------------------------------------------------------


def test_an_answer_beside_a_call_already_made_stands():
    """Seen with the 0.5B model: [final_answer "31 degrees Celsius", get_weather "Cairo"] after the same
    call with "cairo", turn after turn, until the run's retries ran out."""
    server = ScriptedServer([
        action(("get_weather", {"city": "cairo"})),
        action(("final_answer", {"answer": "31 C and sunny."}), ("get_weather", {"city": "Cairo"})),
    ])
    result = agent(server, "get_weather").run("how hot is it in cairo today")
    assert result.text == "31 C and sunny." and result.stop_reason == "final_answer"
    assert ran(result) == [("get_weather", {"city": "cairo"})] and len(server.requests) == 2


def test_an_answer_beside_a_new_call_waits_for_it():
    server = ScriptedServer([
        action(("get_weather", {"city": "Oslo"})),
        action(("final_answer", {"answer": "Oslo is 7 C."}), ("get_weather", {"city": "Rome"})),
        answer("Oslo is 7 C, Rome 19 C."),
    ])
    result = agent(server, "get_weather").run("weather in Oslo and in Rome")
    assert [a["city"] for _, a in ran(result)] == ["Oslo", "Rome"]
    assert result.text == "Oslo is 7 C, Rome 19 C."


# --- a near copy of the user's word --------------------------------------------------------------


@pytest.mark.parametrize("repair", [True, False])
def test_a_near_copy_of_the_users_word_is_repaired_and_runs(repair):
    """Seen with the 0.5B model: told "Call again with city='Lisbon'", it declined, or answered "Lisboa:
    121" with the same call beside it."""
    server = ScriptedServer([
        action(("get_airport_code", {"city": "Lisboa"})),
        action(("get_airport_code", {"city": "Lisbon"})),
        answer("LIS"),
    ])
    result = agent(server, "get_airport_code", repair=repair).run("What's the airport code for Lisbon?")
    first = result.turns[0].results[0]
    if repair:
        assert first.ok and first.arguments == {"city": "Lisbon"} and json.loads(first.output)["code"] == "LIS"
        assert result.turns[0].calls[0].arguments == {"city": "Lisbon"}  # the call as run, as shown
    else:
        assert not first.ok and "the user wrote 'Lisbon', not 'Lisboa'" in first.output
    assert result.text == "LIS"


@pytest.mark.parametrize("repair", [True, False])
def test_a_value_wrapped_in_the_models_own_words_runs_as_given(repair):
    """Seen with the 0.5B model: for "Put 'Dentist' on my calendar for 2026-12-03 at 14:30." it wrote
    title "Dentist appointment on December 3, 2026 at 14:30 AM" and time "14:30 AM" (so the time, a
    value nobody gave in that form, was left out); for the top folder, ". for the top" (asked back)."""
    server = ScriptedServer([action(("create_event", {"title": "Dentist appointment on December 3, 2026 at 14:30 AM",
                                                      "date": "2026-12-03", "time": "14:30 AM"})),
                             answer("Added Dentist on 2026-12-03 at 14:30.")])
    result = agent(server, "create_event", repair=repair).run("Put 'Dentist' on my calendar for 2026-12-03 at 14:30.")
    first = result.turns[0].results[0]
    if repair:
        assert first.ok and first.arguments == {"title": "Dentist", "date": "2026-12-03", "time": "14:30"}
    else:
        assert first.arguments["title"].startswith("Dentist appointment") and "time" not in first.arguments
    server = ScriptedServer([action(("list_files", {"folder": ". for the top"})), answer("notes.txt, todo.md"),
                             answer("Which folder?")])
    result = agent(server, "list_files", repair=repair).run("what files do i have in the top folder of my workspace")
    assert result.turns[0].results[0].ok is repair
    assert result.turns[0].results[0].arguments == {"folder": "." if repair else ". for the top"}


@pytest.mark.parametrize("arguments,said,repaired", [
    ({"title": "Yoga on 2026-12-02", "date": "2026-12-02"}, "'Yoga' on 2026-12-02 and 'Book club' on 2026-12-04",
     {"title": "Yoga"}),
    ({"title": "Book club, 2026-12-04 at 19:00", "date": "2026-12-04"}, "\u2018Book club\u2019 on 2026-12-04",
     {"title": "Book club"}),
    ({"title": "Yoga class", "date": "2026-12-02"}, "'Yoga' on 2026-12-02", {}),  # no detail added: the model's own
    ({"title": "Yogawear 2", "date": "2026-12-02"}, "'Yoga' on 2026-12-02", {}),  # not the quoted word
    ({"title": "Dentist", "date": "2026-12-03T09:00"}, "on 2026-12-03 at 9", {"date": "2026-12-03"}),
    ({"title": "Dentist", "date": "2026-12-03", "time": "9:00 AM"}, "on 2026-12-03 at 9:00", {"time": "9:00"}),
    ({"title": "Dentist", "date": "2026-12-03", "time": "2:30 PM"}, "at 2:30 pm", {}),  # 2:30 is not 2:30 pm
    ({"title": "Dentist", "date": "2026-12-03", "time": "10:00 AM"}, "in the morning", {}),  # nobody said 10:00
    ({"title": "Dentist", "date": "2026-12-03"}, "'Dentist' " * 5000, {}),
])
def test_repaired_values(arguments, said, repaired):
    from harness.grounding import repaired_values

    assert repaired_values(arguments, TOOLS["create_event"].parameters, said, said) == repaired
    assert repaired_values({"folder": ". for the top"}, TOOLS["list_files"].parameters, "", "") == {"folder": "."}
    assert repaired_values({"folder": ". for"}, TOOLS["list_files"].parameters, "", "") == {}
    assert repaired_values({"folder": None}, {"properties": None}, "", "") == {}  # never raises


@pytest.mark.parametrize("value,said,kept", [
    ("Keiko Kim", "Write to Keiko by email", "Keiko"),
    ("Li Wei Kim", "Li Wei is asking about their order", "Li Wei"),
    ("Keiko", "Write to Keiko", None),  # nothing added
    ("Bob Smith", "Email the team", None),  # nothing said
    ("Wei Li", "Li Wei is asking", None),  # not as the user wrote them together
    ("Mr " * 100, "Mr", None),  # prose, not a name
    ("San Jose", "weather in San Francisco", None),  # the kept word is not the whole name the user wrote
    ("New York", "flights to New Jersey", None),
    ("Bob Smith", "Email Bob that the game is off", "Bob"),  # "Email" opens the sentence, not the name
])
def test_the_said_part_of_a_name(value, said, kept):
    assert said_part(value, said) == kept


@pytest.mark.parametrize("repair", [True, False])
def test_a_name_with_a_word_made_up_runs_with_the_users_words(repair):
    """Seen with the 0.5B model: get_contact "Keiko Kim" for "Write to Keiko", refused as a guess, and
    then "Sorry, I can't do that"."""
    server = ScriptedServer([action(("get_contact", {"name": "Keiko Kim"})), answer("keiko.sato@example.jp")])
    result = agent(server, "get_contact", repair=repair, coverage=False).run("What is Keiko's email address?")
    first = result.turns[0].results[0]
    assert first.ok is repair
    if repair:
        assert first.arguments == {"name": "Keiko"} and "keiko" in first.output.casefold()


def test_a_body_in_our_examples_wording_is_written_again_after_the_lookup():
    """Seen with the 0.5B model: send_email to "Bob" with the examples' decline as its body, told to find
    or ask for a body, gave up. Now the address is looked up first, then the body is asked for again,
    with send_email still on offer."""
    decline = "I'm sorry, but I can't do that: none of my tools can."
    server = ScriptedServer([
        action(("send_email", {"to": "Bob", "subject": "Game", "body": decline})),
        action(("get_contact", {"name": "Bob"})),
        action(("send_email", {"to": "bob.l@example.net", "subject": "Game", "body": decline})),
        action(("send_email", {"to": "bob.l@example.net", "subject": "Game", "body": "Friday's game is cancelled."})),
        answer("Sent to bob.l@example.net."),
    ])
    result = agent(server, "send_email", "get_contact", "create_event").run(
        "Could you send Bob a note that Friday's game is cancelled?")
    assert "get_contact can find it" in result.turns[0].results[0].output  # the address first
    again = result.turns[2].results[0]
    assert not again.ok and again.output.startswith("Not run: body is wording from our examples")
    # What the user said the note is to say, quoted: told only "from the user's request", the model wrote the
    # examples' decline again, twice.
    assert again.output.endswith("Call send_email again with body saying what the user said: "
                                 "\"Friday's game is cancelled\".")
    # The call again is the next action: seen with the 0.5B model, the user's words became the answer instead.
    assert offered(server.requests[3]) == {"send_email"} and result.turns[2].pending == ["send_email"]
    assert [r.name for t in result.turns for r in t.results if r.ok] == ["get_contact", "send_email"]
    assert result.text == "Sent to bob.l@example.net."


@pytest.mark.parametrize("copied", [True, False])
def test_a_text_made_of_the_examples_words_is_asked_for(copied):
    """Seen with the 0.5B model: "Send an email to alice.moreau@example.org." sent with the body "I'm
    ordering a taxi to the station." (the examples' "Order me a taxi to the station."): the user said
    nothing of what to write. Not run; the next action asks."""
    server = ScriptedServer([
        action(("send_email", {"to": "alice.moreau@example.org", "subject": "Order for taxi to the station.",
                               "body": "I'm ordering a taxi to the station."})),
        action(("ask_user", {"question": "What is the message text?"})),
    ])
    result = agent(server, "send_email", copied=copied).run("Send an email to alice.moreau@example.org.")
    first = result.turns[0].results[0]
    if copied:
        assert not first.ok and "'Order for taxi to the station.' is our examples' wording" in first.output
        assert offered(server.requests[1]) == {"ask_user"} and result.text == "What is the message text?"
    else:
        assert first.ok


@pytest.mark.parametrize("ask", [True, False])
def test_with_no_tool_to_find_a_guessed_value_the_next_action_asks(ask):
    """Seen with the 0.5B model: create_reminder's time refused, it set a 60-minute timer, then answered
    with the timer's question."""
    server = ScriptedServer([
        action(("create_reminder", {"text": "Tomorrow morning", "when": "2026-12-01 12:00"})),
        action(("ask_user", {"question": "When?"})),
    ])
    result = agent(server, "create_reminder", "set_timer", ask=ask).run("Remind me tomorrow morning.")
    refusal = result.turns[0].results[0].output
    assert refusal.endswith('Ask with ask_user: "When?"' if ask else 'Else ask with ask_user: "When?"')
    assert ("set_timer" in refusal) is not ask  # off: the other tools are named to try, as before
    assert offered(server.requests[1]) == ({"ask_user"} if ask else {"set_timer", "ask_user"})
    assert result.text == "When?"


def test_a_number_is_never_repaired():
    """1870 for the user's 1875 is a wrong number, not a near copy: refused, never run as "1875"."""
    server = ScriptedServer([action(("convert_currency", {"amount": 1870, "from_currency": "USD", "to_currency": "EUR"})),
                             answer("How much?")])
    result = agent(server, "convert_currency").run("Convert 1875 US dollars to EUR.")
    first = result.turns[0].results[0]
    assert not first.ok and first.arguments["amount"] == 1870


def test_a_guess_that_is_no_near_copy_is_still_refused():
    server = ScriptedServer([action(("get_airport_code", {"city": "Madrid"})), answer("Which city?")])
    result = agent(server, "get_airport_code").run("What's the airport code for Lisbon?")
    assert not result.turns[0].results[0].ok and result.turns[0].calls[0].arguments == {"city": "Madrid"}


# --- values one call used together ---------------------------------------------------------------


def test_values_one_call_used_together_are_no_list():
    """Seen with the 0.5B model: "USD/JPY" read as a list, and get_exchange_rate made again with base
    'JPY' and quote 'USD'."""
    server = ScriptedServer([action(("get_exchange_rate", {"base": "USD", "quote": "JPY"})), answer("1.0842")])
    result = agent(server, "get_exchange_rate", "get_weather").run("What's the current USD/JPY exchange rate?")
    note = server.requests[1]["messages"][-1]["content"]
    assert "Now call" not in note and result.turns[0].pending == []
    assert result.text == "1.0842"


def test_values_listed_for_separate_calls_are_still_named():
    server = ScriptedServer([action(("get_weather", {"city": "Paris"})), action(("get_weather", {"city": "Madrid"})),
                             answer("Paris 14 C, Madrid 22 C.")])
    agent(server, "get_weather").run("Which is warmer right now, Paris or Madrid?")
    assert "Now call get_weather with city 'Madrid' too" in server.requests[1]["messages"][-1]["content"]


# --- a tool the task names, not yet run ----------------------------------------------------------


@pytest.mark.parametrize("task,tools,ran,named", [
    ("Convert the price of one NVDA share into Japanese yen.", ["get_stock_price", "convert_currency"], [],
     ["convert_currency"]),
    ("Convert 180 lb to kg.", ["convert_currency", "convert_units"], ["convert_units"], []),  # converted
    ("Read todo.md and set a reminder for 9am.", ["set_timer", "create_reminder", "read_file"], [], ["read_file"]),
    ("Send Bob the notes, then translate them.", ["translate", "send_email"], [], ["send_email", "translate"]),
    # Nouns name nothing (each was seen sending a finished run back): "email address", "stocks", "notes.txt".
    ("I need Tomas's email address, can you look it up?", ["get_contact", "send_email"], ["get_contact"], []),
    ("Anything in the news about semiconductor stocks today?", ["get_news", "get_stock_price"], ["get_news"], []),
    ("When is the meeting? It's in notes.txt.", ["read_file", "search_notes"], ["read_file"], []),
    ("What is the capital of Norway?", ["get_population", "get_weather"], [], []),
    # Quoted words are what to work on, not a request (seen: "send" in the text to rewrite sent the answer back).
    ("Rewrite this to sound more polite: 'Send me the file now.'", ["send_email"], [], []),
    ("Send Bob the note 'see you at 5'", ["send_email"], [], ["send_email"]),
    ("", ["get_weather"], [], []),
])
def test_the_tools_a_task_names(task, tools, ran, named):
    assert named_tools(task, tools, ran) == named


def test_named_tools_never_raises_and_is_linear():
    assert named_tools(None, ["a"]) == [] and named_tools("x", None) == []  # type: ignore[arg-type]
    started = time.perf_counter()
    assert named_tools("send " * 100_000, ["send_email", "x" * 10_000]) == ["send_email"]
    assert time.perf_counter() - started < 2


@pytest.mark.parametrize("untried", [True, False])
def test_an_answer_before_the_tool_the_task_names_is_sent_back_once(untried):
    """Seen with the 0.5B model: with the share price in, it answered "187.33 British pounds." and never
    converted it."""
    server = ScriptedServer([
        action(("get_stock_price", {"symbol": "AMZN"})),
        answer("187.33 British pounds."),
        action(("convert_currency", {"amount": 187.33, "from_currency": "USD", "to_currency": "GBP"})),
        answer("About 146 GBP."),
    ])
    result = agent(server, "get_stock_price", "convert_currency", untried=untried, answer_check=False, coverage=False).run(
        "Convert the price of one AMZN share into GBP.")
    if not untried:
        assert result.text == "187.33 British pounds." and result.turns[-1].rejected is None
        return
    assert result.turns[1].rejected == "untried"
    note = server.requests[2]["messages"][-1]["content"]
    assert note.startswith("The task asks for what convert_currency does, and it has not run.")
    assert [n for n, _ in ran(result)] == ["get_stock_price", "convert_currency"]
    assert result.text == "About 146 GBP."


@pytest.mark.parametrize("untried", [True, False])
def test_a_part_of_the_task_no_call_covers_that_names_a_tool_is_called_for(untried):
    """Seen with the 0.5B model: "How many people live in Lima, and what's the weather there today?" had
    get_population run, then the answer "Lima: 10092000 people. Today's weather is sunny."."""
    server = ScriptedServer([
        action(("get_population", {"place": "Lima"})),
        answer("Lima: 10092000 people. Today's weather is sunny."),
        action(("get_weather", {"city": "Lima"})),
        answer("Lima: 10092000 people; foggy, 17 C."),
    ])
    result = agent(server, "get_population", "get_weather", untried=untried, answer_check=False, coverage=False).run(
        "How many people live in Lima, and what's the weather there today?")
    if not untried:
        assert result.text == "Lima: 10092000 people. Today's weather is sunny."
        return
    assert result.turns[1].rejected == "untried"
    assert server.requests[2]["messages"][-1]["content"].startswith("The task asks for what get_weather does")
    assert offered(server.requests[2]) == {"get_weather"}  # that call next
    assert [n for n, _ in ran(result)] == ["get_population", "get_weather"]


@pytest.mark.parametrize("task,calls,named", [
    ("How many people live in Lima, and what's the weather there today?", [("get_population", {"place": "Lima"})],
     ["get_weather"]),
    ("Quick morning briefing: weather in London and the AMZN share price.", [("get_weather", {"city": "London"})],
     ["get_stock_price"]),
    ("Find my note about the launch plan and email its owner a reminder.", [("search_notes", {"query": "launch plan"})],
     ["send_email"]),
    # Every part covered: by a value ("Bob"), or by the tool's own noun ("the weather").
    ("Give me the email addresses of Alice and Bob.", [("get_contact", {"name": "Alice"}), ("get_contact", {"name": "Bob"})],
     []),
    ("What's the weather in Oslo, and is it raining?", [("get_weather", {"city": "Oslo"})], []),
    ("What has customer C-4821 ordered?", [("get_orders", {"customer_id": "C-4821"})], []),  # one part
    ("weather in Oslo and in Rome", [("get_weather", {"city": "Oslo"})], []),  # siblings' to name
    # A verb that names the noun: "Define" a definition (seen: translated, and never defined 'sonder').
    ("Define 'sonder', and translate 'good morning' into German.",
     [("translate", {"text": "good morning", "target_language": "German"})], ["get_definition"]),
    ("What is the most popular song, and the weather in Oslo?", [("get_weather", {"city": "Oslo"})], []),  # no population
])
def test_uncovered_tools(task, calls, named):
    tools = ["get_population", "get_weather", "get_stock_price", "search_notes", "get_contact", "send_email",
             "get_orders", "lookup_customer", "get_definition", "translate"]
    assert uncovered_tools(task, tools, calls) == named


def test_uncovered_tools_is_linear_and_never_raises():
    started = time.perf_counter()
    assert uncovered_tools("weather and " * 1000, ["get_weather"] * 100, [("x", {"a": "b " * 10_000})] * 1000) == \
        ["get_weather"] * 100
    assert uncovered_tools(None, None, None) == []  # type: ignore[arg-type]
    assert time.perf_counter() - started < 1.0


def test_untried_waits_for_a_tool_to_run_and_asks_once():
    # No tool ran: a general answer is not sent back for a tool the question happens to name.
    server = ScriptedServer([answer("To change from one form to another.")])
    result = agent(server, "convert_units").run("What does the word convert mean?")
    assert result.text == "To change from one form to another." and len(server.requests) == 1
    # Once a run: the second answer stands, though the tool still has not run.
    server = ScriptedServer([action(("play_music", {"query": "jazz"})), answer("Playing jazz."),
                             answer("Playing jazz; no translation.")])
    result = agent(server, "play_music", "translate", coverage=False).run("Play some jazz and translate hello into French.")
    assert [t.rejected for t in result.turns] == [None, "untried", None] and result.text == "Playing jazz; no translation."


def _answer_pattern(request: dict) -> str:
    return request["response_format"]["json_schema"]["schema"]["anyOf"][0]["properties"]["arguments"]["properties"][
        "answer"]["pattern"]


@pytest.mark.parametrize("unecho", [True, False])
def test_after_an_echo_the_answer_opens_with_the_first_results_subject(unecho):
    """Seen with the 0.5B model: with all three cities' weather in, it wrote the task and the note after
    it back as its answer; kept off the echo's first letter, it wrote "The weather check for ...", then
    the examples' decline. Opened with the first result's subject, it has only values left to write."""
    from harness.prompt import FOLLOW_UP

    cities = [("get_weather", {"city": c}) for c in ("Tokyo", "Sydney", "Nairobi")]
    echo = answer(f"Weather check for Tokyo, Sydney and Nairobi please! {FOLLOW_UP}")
    whole = "Tokyo: rainy, 23. Sydney: clear, 26. Nairobi: clear, 21."
    server = ScriptedServer([action(*cities), echo, answer(whole)])
    result = agent(server, "get_weather", unecho=unecho).run("Weather check for Tokyo, Sydney and Nairobi please!")
    assert result.turns[1].rejected == "echo" and result.text == whole
    if unecho:  # an answer alone, opening with "Tokyo: "
        pattern = _answer_pattern(server.requests[2])
        assert offered(server.requests[2]) == {"final_answer"}
        assert re.match(pattern, whole) and not re.match(pattern, "Sydney: clear, 26.")
        assert not re.match(pattern, "The weather check for Tokyo, Sydney and Nairobi please!")
        assert "pattern" not in json.dumps(server.requests[1]["response_format"])  # only after the echo
    else:
        assert "pattern" not in json.dumps(server.requests[2]["response_format"])


def test_after_two_echoes_the_answer_opens_as_neither_did():
    """Seen with the 0.5B model: "Set two timers...", "The harness's note ...", then our note back (the
    task and the note after it each time): banned only the last opening, it went back to the first, and
    the run ended with no answer. A timer's result has no subject to open with: the letters are banned."""
    from harness.prompt import FOLLOW_UP

    echo = f"Set a timer for 5 minutes. {FOLLOW_UP}"
    server = ScriptedServer([action(("set_timer", {"minutes": 5})), answer(echo), answer("The " + echo),
                             answer("A 5-minute timer is running.")])
    result = agent(server, "set_timer").run("Set a timer for 5 minutes.")
    assert [t.rejected for t in result.turns] == [None, "echo", "echo", None] and result.text == "A 5-minute timer is running."
    patterns = [_answer_pattern(r) for r in server.requests[2:]]
    assert not re.match(patterns[0], echo) and re.match(patterns[0], "The " + echo)
    assert not re.match(patterns[1], echo) and not re.match(patterns[1], "the " + echo)
    assert re.match(patterns[1], "A 5-minute timer is running.")


# --- a file the task names, not yet read ---------------------------------------------------------


@pytest.mark.parametrize("read_named", [True, False])
def test_an_answer_before_the_file_the_task_names_is_read_is_sent_back(read_named):
    """Seen with the 0.5B model: "Which port is set in config.ini?" answered "8080" from memory, and
    again when told that no tool gave it."""
    server = ScriptedServer([answer("8080"), action(("read_file", {"path": "config.ini"})), answer("Port 8443.")])
    result = agent(server, "read_file", "list_files", read_named=read_named, answer_check=False).run(
        "Which port is set in config.ini?")
    if not read_named:
        assert result.text == "8080" and len(server.requests) == 1
        return
    assert result.turns[0].rejected == "unread"
    assert server.requests[1]["messages"][-1]["content"] == (
        "The task names the file config.ini, and no tool has read it. Call read_file with path 'config.ini' now.")
    assert offered(server.requests[1]) == {"read_file"}  # that call, not another answer
    assert ran(result) == [("read_file", {"path": "config.ini"})] and result.text == "Port 8443."


def test_a_file_read_earlier_in_the_conversation_is_read():
    """The live plan test: the plan's step read notes.txt and answered "Friday at 10:00 in room 4."; the
    final request (a run of its own) gave the same answer, was sent back as if notes.txt were unread,
    and answered "notes.txt: read"."""
    server = ScriptedServer([action(("read_file", {"path": "notes.txt"})), answer("Friday at 10:00 in room 4."),
                             answer("Friday at 10:00 in room 4.")])
    a = agent(server, "read_file", answer_check=False, coverage=False)
    assert a.run("Find the day in notes.txt.").text == "Friday at 10:00 in room 4."
    result = a.run("All steps are done. Now give the final answer to the task: the day in notes.txt.")
    assert result.text == "Friday at 10:00 in room 4." and [t.rejected for t in result.turns] == [None]


def test_a_file_the_task_speaks_of_that_a_listing_found_is_read_before_the_answer():
    """Seen with the 0.5B model: "There's a todo file somewhere in my workspace. What's on it?" listed
    the files and answered with the listing; "the config file" answered "8080" beside the listing."""
    server = ScriptedServer([action(("list_files", {"folder": "."})), answer("notes.txt, todo.md, config.ini"),
                             action(("read_file", {"path": "todo.md"})), answer("renew passport, call the plumber")])
    result = agent(server, "read_file", "list_files", coverage=False, answer_check=False).run(
        "There's a todo file somewhere in my workspace. What's on it?")
    assert [t.rejected for t in result.turns] == [None, "unread", None, None]
    assert server.requests[2]["messages"][-1]["content"] == (
        "The file the task speaks of is todo.md, and no tool has read it. Call read_file with path 'todo.md' now.")
    assert offered(server.requests[2]) == {"read_file"}
    assert [n for n, _ in ran(result)] == ["list_files", "read_file"]


@pytest.mark.parametrize("task", ["What files are in the top folder of my workspace?",  # no stem said
                                  "Search my notes for the budget, and list my files."])  # "notes", but no "notes file"
def test_a_listing_alone_asks_for_no_file_to_be_read(task):
    server = ScriptedServer([action(("list_files", {"folder": "."})), answer("notes.txt, todo.md, config.ini")])
    result = agent(server, "read_file", "list_files", coverage=False, answer_check=False).run(task)
    assert [t.rejected for t in result.turns] == [None, None] and result.text == "notes.txt, todo.md, config.ini"


def test_a_file_named_is_read_once_every_file_and_a_decline_stands():
    # After other calls: the file is still read before the answer ("... described in notes.txt").
    server = ScriptedServer([action(("create_event", {"title": "Team meeting", "date": "2026-12-04"})),
                             answer("Added the team meeting."), action(("read_file", {"path": "notes.txt"})),
                             answer("Added; the notes say Friday at 10:00.")])
    result = agent(server, "read_file", "create_event", coverage=False, answer_check=False).run(
        "Put the team meeting described in notes.txt on my calendar for 2026-12-04.")
    assert [t.rejected for t in result.turns] == [None, "unread", None, None]
    assert [n for n, _ in ran(result)] == ["create_event", "read_file"]
    # A file read under another spelling of its path counts; the other one named is asked for.
    server = ScriptedServer([action(("read_file", {"path": "./TODO.md"})), answer("Passport, plumber, milk."),
                             answer("Passport, plumber, milk; config not read.")])
    result = agent(server, "read_file", coverage=False, answer_check=False).run("Show me todo.md and config.ini.")
    assert "config.ini" in server.requests[2]["messages"][-1]["content"]
    assert [t.rejected for t in result.turns] == [None, "unread", None]  # once a run: the next answer stands
    # An answer that says it can't is not sent back to read the file: "Delete config.ini" needs no reading.
    server = ScriptedServer([answer("Sorry, I can't delete files.")])
    result = agent(server, "read_file").run("Delete config.ini from my workspace.")
    assert result.text == "Sorry, I can't delete files." and len(server.requests) == 1
    # Only a tool that reads files without asking: none here, so nothing is asked for.
    server = ScriptedServer([answer("8080")])
    result = agent(server, "list_files", answer_check=False).run("Which port is set in config.ini?")
    assert result.text == "8080" and len(server.requests) == 1


def test_named_files():
    assert named_files("What's in todo.md and in config.ini? And todo.md again.") == ["todo.md", "config.ini"]
    assert named_files("Open notes/todo.md, ./a.txt and REPORT.PDF.") == ["notes/todo.md", "./a.txt", "REPORT.PDF"]
    # Not files: abbreviations, web addresses, email addresses, version numbers, unknown extensions.
    assert named_files("e.g. example.com, bob@mail.md, v1.2, 3.14, archive.tar.gz, the.end") == []
    for text in ("a." * 5000, "a/" * 5000, "a.b/" * 3000, "-." * 5000, ("x." * 50 + " ") * 100):
        started = time.perf_counter()
        assert named_files(text) == []
        assert time.perf_counter() - started < 0.5  # a bound far above linear, far below quadratic


@pytest.mark.parametrize("task,files", [
    ("There's a todo file somewhere. What's on it?", ["todo.md"]),
    ("Find the config file and tell me the port.", ["config.ini"]),
    ("I have a notes file with the meeting details.", ["notes.txt"]),
    ("List my files and search my notes.", []),  # a listing, no one file spoken of
    ("Which file is biggest?", []),  # no stem said
])
def test_described_files(task, files):
    assert described_files(task, '{"files": ["notes.txt", "todo.md", "config.ini", "report.pdf"]}') == files


def test_described_files_is_linear_and_never_raises():
    started = time.perf_counter()
    assert described_files("the a file " * 2000, "a." * 50_000) == []
    assert described_files(None, None) == []  # type: ignore[arg-type]
    assert time.perf_counter() - started < 0.5


# --- an answer looping until max_tokens ----------------------------------------------------------


@pytest.mark.parametrize("text,kept", [
    ("23:40, " * 40, "23:40"),
    ("LIS: 08:05, 129 EUR, " + "08:05, 129 EUR, " * 20, "LIS: 08:05, 129 EUR"),
    ("x" * 500, "x"),
    ("The weather is fine.", "The weather is fine."),  # no loop
    ("Norway has 5594000 people.", "Norway has 5594000 people."),  # digits repeat, but not to the end
    ("Wow!!!", "Wow!!!"),  # too short to be a loop
    ("", ""),
])
def test_unlooped(text, kept):
    assert unlooped(text) == kept


def test_unlooped_is_linear():
    started = time.perf_counter()
    for text, kept in (("ab" * 10_000, "ab"), ("abcdefghij" * 1_990 + "z", None), ("a" * 20_000, "a")):
        assert unlooped(text) == (text if kept is None else kept)
    assert time.perf_counter() - started < 2


@pytest.mark.parametrize("unloop", [True, False])
def test_an_answer_cut_off_in_a_loop_is_taken_once(unloop):
    """Seen with the 0.5B model: "23:40, 23:40, ..." until max_tokens, sent back as an unfinished call,
    written again until the run's turns ran out."""
    looping = Reply('[{"name":"final_answer","arguments":{"answer":"' + "23:40, " * 60, finish="length")
    server = ScriptedServer([action(("get_time", {"city": "Sydney"})), looping, answer("It is 23:40.")])
    result = agent(server, "get_time", unloop=unloop).run("What time is it in Sydney?")
    if unloop:
        assert result.text == "23:40" and len(server.requests) == 2
    else:
        assert result.turns[1].problems and result.text == "It is 23:40."


def test_an_answer_cut_off_without_a_loop_is_sent_back_as_before():
    """It may have more to say ("... LH456 at 09:"): not taken as finished."""
    cut = Reply('[{"name":"final_answer","arguments":{"answer":"The flights: HX 412 at 08:05, LH456 at 09:', finish="length")
    server = ScriptedServer([action(("get_time", {"city": "Sydney"})), cut, answer("HX 412 at 08:05.")])
    result = agent(server, "get_time", coverage=False, answer_check=False).run("What time is it in Sydney?")
    assert result.turns[1].problems and result.text == "HX 412 at 08:05."


@pytest.mark.parametrize("text,said", [
    ("Could you send Bob a note that Friday's game is cancelled?", "Friday's game is cancelled"),
    ("pls email tomas that im out sick today and wont make the standup", "im out sick today and wont make the standup"),
    ("Text Keiko saying happy birthday!", "happy birthday"),
    ("Send an email to alice.moreau@example.org.", ""),
    ("Email Bob.\nTell him that the port is 8443.", "the port is 8443"),
    ("", ""),
])
def test_message_words(text, said):
    from harness.grounding import message_words

    assert message_words(text) == said


def test_message_words_never_raise_and_stay_linear():
    import time

    from harness.grounding import message_words

    assert message_words(None) == ""  # type: ignore[arg-type]
    started = time.perf_counter()
    assert len(message_words("that " * 1_000_000)) <= 300
    assert message_words("say that " + "x" * 1_000_000) == ""
    assert time.perf_counter() - started < 2


@pytest.mark.parametrize("repair", [True, False])
def test_a_closed_choice_the_user_said_is_set_as_the_call_runs(repair):
    """Seen with the 0.5B model: "How long would it take me to walk ..." left mode out: timed by car."""
    server = ScriptedServer([action(("get_directions", {"origin": "Trastevere", "destination": "Colosseum"})),
                             answer("37 minutes on foot.")])
    result = agent(server, "get_directions", repair=repair).run(
        "How long would it take me to walk from Trastevere to the Colosseum?")
    assert result.turns[0].results[0].arguments.get("mode") == ("walking" if repair else None)


def test_the_same_call_twice_in_one_action_runs_once():
    """Seen with the 0.5B model, its values pinned: the same send_email three times in one action."""
    server = ScriptedServer([action(("set_timer", {"minutes": 5}), ("set_timer", {"minutes": 5}), ("set_timer", {"minutes": 45})),
                             answer("Timers: 5 and 45 minutes.")])
    result = agent(server, "set_timer").run("Set a 5 minute timer and a 45 minute one.")
    ran = [r.arguments["minutes"] for r in result.turns[0].results if r.ok]
    assert ran == [5, 45] and result.turns[0].refused == [False, True, False]
    assert result.turns[0].results[1].output == "Not run: the same call as one before it in this action."
    assert result.text == "Timers: 5 and 45 minutes."
