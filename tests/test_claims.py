"""Claims: an answer must not report an action no tool did (harness/claims.py, Techniques.claims)."""

from __future__ import annotations

import time

import pytest

from harness.agent import Agent
from harness.claims import unbacked_claims
from harness.techniques import Techniques
from harness.tooluse import load_tools
from scripted import ScriptedServer, action, answer

TOOLS = load_tools()


@pytest.mark.parametrize("answer,ran,claims", [
    ("Order O-7731 cancelled for customer.", [], ["cancelled"]),
    ("Sent to Bob: Game cancelled on Friday.", [], ["sent", "cancelled"]),
    ("Sent to Keiko Sato: Happy birthday!", ["get_contact"], ["sent"]),  # a lookup sends nothing
    ("Sent to alice.moreau@example.org.", ["get_contact", "send_email"], []),
    ("Booked a table for two at 19:00.", ["book_table"], []),
    ("John Smith ordered an espresso machine.", ["lookup_customer", "get_orders"], []),  # what a result says
    ("The capital of Norway is Oslo.", [], []),
    ("The pleasant smell of earth after rain is called petrichor.", ["get_definition"], []),
    ("Sorry, I can't do that: none of my tools can.", [], []),
    ("SENT! Payment refunded.", [], ["sent", "refunded"]),
])
def test_unbacked_claims(answer, ran, claims):
    assert unbacked_claims(answer, ran) == claims


def test_unbacked_claims_never_raise_and_stay_linear():
    assert unbacked_claims("sent", [None]) == []  # type: ignore[list-item]
    started = time.perf_counter()
    assert unbacked_claims("sent " * 1_000_000, ["x_" * 100_000]) == ["sent"]
    assert time.perf_counter() - started < 2


@pytest.mark.parametrize("on", [True, False])
def test_an_action_reported_without_the_tool_that_does_it_is_sent_back_once(on):
    server = ScriptedServer([answer("Sent to Bob: the game is off."), action(("get_contact", {"name": "Bob"})),
                             answer("Sent to bob.l@example.net: the game is off.")])
    agent = Agent([TOOLS["get_contact"], TOOLS["send_email"]], client=server.client(), constrained=True,
                  techniques=Techniques(claims=on, untried=False))  # untried would send the last answer back too
    result = agent.run("Email Bob that the game is off.")
    if not on:
        assert result.text == "Sent to Bob: the game is off." and len(result.turns) == 1
        return
    assert result.turns[0].rejected == "claimed"
    note = server.requests[1]["messages"][-1]["content"]
    assert "Your answer says 'sent', but no tool that does that ran, so nothing was sent." in note
    # Once a run: after get_contact the same claim is accepted (the other checks still apply).
    assert [t.rejected for t in result.turns][1:] == [None, None] and result.stop_reason == "final_answer"
    assert result.text == "Sent to bob.l@example.net: the game is off."


@pytest.mark.parametrize("answer,said", [
    ("Order O-1 status: cancelled.", '{"order_id": "O-1", "status": "cancelled"}'),  # what a tool said
    ("I can't send emails, so nothing was sent.", ""),  # negated
    ("It cannot be booked from here.", ""),
    ("Python was created by Guido van Rossum.", ""),  # a description, not a report
])
def test_what_is_no_claim(answer, said):
    assert unbacked_claims(answer, [], said) == []


def _texts(*names: str) -> list[str]:
    import json

    return [text for n in names for text in (n.replace("_", " "), TOOLS[n].description, json.dumps(TOOLS[n].parameters))]


@pytest.mark.parametrize("task,tools,verb", [
    ("Book me a hotel room in Rome for the 12th to the 15th of December.", ["find_restaurants", "get_weather"], "book"),
    ("Reserve a table for 8 people at Casa Lumen in Lisbon.", ["find_restaurants"], "reserve"),
    ("Find and reserve me a parking spot near the Louvre.", ["find_restaurants", "get_directions"], "reserve"),
    ("Please buy 10 shares of AAPL for me.", ["get_stock_price"], "buy"),
    ("Can you record tonight's match on my TV?", ["play_music"], "record"),
    ("It's chilly, turn the thermostat up to 21 degrees.", ["convert_units"], "turn"),
    ("Add 'buy eggs' to the end of todo.md.", ["read_file", "list_files"], "add"),
    # A tool that does it, by its own word or a word for the same thing.
    ("Start a 20 minute timer.", ["set_timer"], ""),
    ("Schedule 'Team lunch' in my calendar.", ["create_event"], ""),
    ("Add two things to my calendar: 'Yoga' and 'Book club'.", ["create_event"], ""),
    ("Call Priya for me.", ["get_contact"], ""),  # "phone number": a phone is there to call
    # No action asked for: a question, a noun, a verb inside the request.
    ("MSFT share price pls", ["get_stock_price"], ""),
    ("Remind me tomorrow at 8am to call the plumber.", ["create_reminder"], ""),
    ("What's the weather in Oslo?", ["get_weather"], ""),
    ("Write a haiku about autumn.", ["send_email"], ""),
    ("", ["get_weather"], ""),
])
def test_unfit_action(task, tools, verb):
    from harness.claims import unfit_action

    assert unfit_action(task, _texts(*tools)) == verb


def test_unfit_action_never_raises_and_stays_linear():
    from harness.claims import unfit_action

    assert unfit_action(None, [None]) == ""  # type: ignore[arg-type]
    started = time.perf_counter()
    assert unfit_action("please " * 500_000 + "book it", ["x" * 1_000_000]) == ""  # cut at 4000 characters
    assert unfit_action(", and " * 500_000, ["book"] * 1_000_000) == ""
    assert time.perf_counter() - started < 2


@pytest.mark.parametrize("task,thing", [
    ("What's the air quality index in Paris today?", "air quality index"),
    ("How high is the UV index in Sydney right now?", "UV index"),
    ("What is the capital of Norway?", "capital of Norway"),
    ("whats portugal's capital", "capital"),
    ("What's the live score of the Arsenal game?", "live score of the Arsenal game"),
    ("Show me the photos from my phone's gallery from last weekend.", "photos"),
    ("Li Wei is asking about their order. What's the status?", "status"),
    ("Show me what's in todo.md and in config.ini.", ""),  # "what's" is no owner
    ("How many people live in Iceland?", ""),  # no thing asked by name
    ("Thanks, that's all!", ""),
    ("", ""),
])
def test_asked_thing(task, thing):
    from harness.claims import asked_thing

    assert asked_thing(task) == thing


@pytest.mark.parametrize("task,tools,thing", [
    ("What's the air quality index in Paris today?", ["get_weather"], "air quality index"),
    ("How high is the UV index in Sydney right now?", ["get_weather", "get_time"], "UV index"),
    ("What is the capital of Norway?", ["get_population", "get_weather"], "capital of Norway"),
    ("Show me the photos from my phone's gallery from last weekend.", ["list_files", "read_file"], "photos"),
    # A word of the request is a word of a tool: the tool may well give it.
    ("Li Wei is asking about their order. What's the status?", ["lookup_customer", "get_orders"], ""),
    ("How far is the drive from Bergen to Voss? What's the distance?", ["get_directions"], ""),  # drive ~ driving
    ("What's the weather in Oslo?", ["get_weather"], ""),
    # A value in a tool's form: tools take it by its form, whatever the thing is called.
    ("What's the cheapest fare from OSL to CDG?", ["search_flights"], ""),
    ("What's the GBP to USD rate?", ["get_exchange_rate"], ""),
    ("Show me the lines of notes.txt", ["read_file"], ""),
    ("Write a haiku about autumn.", ["get_weather"], ""),  # no question
])
def test_unfit_thing(task, tools, thing):
    from harness.claims import unfit_thing

    assert unfit_thing(task, _texts(*tools)) == thing


@pytest.mark.parametrize("task,now", [
    ("What's the air quality index in Paris today?", True), ("What's the live score?", True),
    ("Show me the photos from my phone.", True), ("check the balance on our gift card", True),
    ("What is the capital of Norway?", False), ("What's the opposite of 'ancient'?", False),
    ("Is the sky blue? I wonder.", False), ("How many people live in Iceland?", False),
])
def test_asks_about_now(task, now):
    from harness.claims import asks_about_now

    assert asks_about_now(task) is now


@pytest.mark.parametrize("task,tools,verb", [
    ("Rewrite this to sound more polite: 'Send me the file now.'", ["send_email", "get_contact"], "rewrite"),
    ("Write a haiku about autumn.", ["get_weather", "get_news"], "write"),
    ("Please summarise this: 'The meeting moved to Friday.'", ["create_event"], "summarise"),
    ("Write to Keiko by email and thank her for the dinner.", ["send_email", "get_contact"], ""),  # an email
    ("Draft an event for Friday at 10.", ["create_event"], ""),  # the event is create_event's
    ("What is a haiku?", ["get_news"], ""),  # a question, not writing
    ("Explain how to get to the station from here.", ["get_directions"], ""),  # explaining is no writing of its own
])
def test_own_work(task, tools, verb):
    from harness.claims import own_work

    assert own_work(task, _texts(*tools)) == verb
    assert own_work(None, [None]) == ""  # type: ignore[arg-type]


@pytest.mark.parametrize("task,date", [
    ("What was Tesla's closing price on 3 January 2020?", "3 January 2020"),
    ("Weather in Oslo on 2019-05-01?", "2019-05-01"), ("Sales on March 3, 2024", "March 3, 2024"),
    ("Find flights on 2026-12-20.", ""),  # this year
    ("Book it for 5 January 2027.", ""), ("What happened in 1969?", ""),  # a year alone is no day
])
def test_past_date(task, date):
    from harness.claims import past_date

    assert past_date(task, 2026) == date
    assert past_date(None, 2026) == ""  # type: ignore[arg-type]


@pytest.mark.parametrize("task,tools,dateless", [
    ("What was Tesla's closing price on 3 January 2020?", ["get_stock_price", "get_news"], True),
    ("What was the weather in Oslo on 2019-05-01?", ["get_weather"], True),
    ("Flights from OSL to CDG on 2020-01-03?", ["search_flights"], False),  # it takes a date
    ("Who won the match on 3 January 2020?", ["get_stock_price"], False),  # no tool speaks of it
])
def test_dateless(task, tools, dateless):
    from harness.claims import dateless as check

    assert check([(n, TOOLS[n].description, TOOLS[n].parameters) for n in tools], task) is dateless
    assert check([("x", None, None)], task) is False  # type: ignore[list-item]


def test_the_parts_of_a_request_split_in_linear_time():
    from harness.claims import asked_tools, own_work, unfit_action

    started = time.perf_counter()
    for spaces in (" " * 4000, "\t" * 4000, " \t" * 2000):
        unfit_action(spaces + "x", ["book"]), own_work(spaces, ["x"]), asked_tools(spaces, ["translate"])
    assert time.perf_counter() - started < 0.5


def test_unfit_thing_never_raises_and_stays_linear():
    from harness.claims import asked_thing, asks_about_now, unfit_thing

    assert unfit_thing(None, [None]) == "" and asked_thing(None) == "" and asks_about_now(None) is False  # type: ignore[arg-type]
    started = time.perf_counter()
    assert unfit_thing("what's the " * 500_000, ["x" * 1_000_000]) == ""
    assert unfit_thing("What's the " + "a " * 1_000_000 + "index", ["weather"] * 1_000_000) == ""
    asked_thing("show me the " + "x's " * 1_000_000)
    assert time.perf_counter() - started < 2


@pytest.mark.parametrize("task,tools,asked", [
    ("Define 'sonder', and translate 'good morning' into German.", ["get_definition", "translate"], ["translate"]),
    ("Please convert 5 miles to km", ["convert_units", "get_weather"], ["convert_units"]),
    ("How would I say good morning in French?", ["translate"], []),  # a question: the model's to decide
    ("Write a haiku about autumn.", ["send_email"], []),
    ("Get me the weather", ["get_weather"], []),  # "get" says nothing of a tool in particular
    ("", ["translate"], []),
])
def test_asked_tools(task, tools, asked):
    from harness.claims import asked_tools

    assert asked_tools(task, tools) == asked


@pytest.mark.parametrize("task,tools,asked", [
    ("What do 'petrichor' and 'apricity' mean?", ["translate", "get_definition"], ["get_definition"]),
    ("What's the meaning of the word apricity?", ["get_definition"], ["get_definition"]),
    ("Which is warmer right now, Paris or Madrid?", ["get_time", "get_weather"], ["get_weather"]),
    ("In Sydney: what time is it, and how warm is it?", ["get_time", "get_weather"], ["get_weather"]),
    ("What's the weather in Oslo, is it cold?", ["get_weather"], []),  # said outright: named, not asked for
    ("ok cool, bye for now", ["get_weather"], []),  # not a measure
    ("It's chilly, turn the thermostat up to 21 degrees.", ["get_weather"], []),
    # Only in a question (a review found these sent back or refused): said, not asked.
    ("I'm freezing cold in here. Set a timer for 10 minutes.", ["get_weather", "set_timer"], []),
    ("What's NVDA trading at? Everyone says tech is hot right now.", ["get_stock_price", "get_weather"], []),
    ("hey, how hot is it in cairo today", ["get_weather"], ["get_weather"]),  # a question with no question mark
])
def test_asks_for(task, tools, asked):
    from harness.claims import asks_for, names_tool
    assert asks_for(task, tools) == asked
    assert all(names_tool(task, t) for t in asked)  # and names_tool reads them the same way


def test_asks_for_never_raises_and_stays_linear():
    from harness.claims import asks_for
    started = time.perf_counter()
    assert asks_for("how warm is it? " * 20_000, ["get_weather"]) == ["get_weather"]
    assert asks_for("warm " * 100_000, ["get_weather"]) == []  # no question
    assert asks_for(None, ["x"]) == []  # type: ignore[arg-type]
    assert time.perf_counter() - started < 2


@pytest.mark.parametrize("task,tool,arguments,option", [
    ("Can you find me a seafood restaurant in Lisbon?", "find_restaurants", {"city": "Lisbon"}, {"cuisine": "seafood"}),
    ("Any thai restaurants in Lyon you can recommend?", "find_restaurants", {"city": "Lyon"}, {"cuisine": "thai"}),
    ("Find me restaurants in Porto and in Bologna.", "find_restaurants", {"city": "Porto"}, {}),  # no kind
    ("Find me some good restaurants in Porto.", "find_restaurants", {"city": "Porto"}, {}),
    ("a seafood restaurant in Lisbon", "find_restaurants", {"city": "Lisbon", "cuisine": "fish"}, {}),  # given
    ("a seafood restaurant in Lisbon", "find_restaurants", {"city": "Lisbon seafood"}, {}),  # held elsewhere
    ("Start a 25 minute timer please.", "set_timer", {"minutes": 25}, {}),  # a unit; and no example of a kind
    ("Set two timers: one for 5 minutes", "set_timer", {"minutes": 5}, {}),
    ("Find me a Lisbon restaurant", "find_restaurants", {"city": "Lisbon"}, {}),  # a name, not a kind
    # How good, how dear, where: no kind (a review found these taken for a cuisine).
    ("Any cheap restaurants in Lyon?", "find_restaurants", {"city": "Lyon"}, {}),
    ("a nearby restaurant in Lyon", "find_restaurants", {"city": "Lyon"}, {}),
    ("the closest restaurant in Lyon", "find_restaurants", {"city": "Lyon"}, {}),
])
def test_kind_option(task, tool, arguments, option):
    from harness.claims import kind_option
    assert kind_option(task, tool, TOOLS[tool].parameters, arguments) == option


def test_kind_option_reads_only_an_option_whose_example_is_a_word_and_never_raises():
    from harness.claims import kind_option
    schema = {"properties": {"path": {"type": "string"}, "encoding": {"type": "string", "description": "e.g. utf-8"}},
              "required": ["path"]}
    assert kind_option("read the config file", "read_file", schema, {"path": "config.ini"}) == {}
    assert kind_option(None, "x", {}, {}) == {}  # type: ignore[arg-type]
    started = time.perf_counter()
    assert kind_option("seafood restaurant " * 20_000, "find_restaurants", TOOLS["find_restaurants"].parameters,
                       {"city": "x"}) == {"cuisine": "seafood"}
    assert time.perf_counter() - started < 2


@pytest.mark.parametrize("task,tools,thing", [
    ("Start the dishwasher on the eco programme.", ["set_timer", "create_reminder"], "the dishwasher"),
    ("Turn on the living room lights.", ["set_timer", "play_music"], "the living room lights"),
    ("It's chilly, turn the thermostat up to 21 degrees.", ["get_weather", "convert_units"], "the thermostat"),
    ("Start a 20 minute timer and play some lo-fi beats.", ["set_timer", "play_music"], ""),  # the timer's
    ("Please start a timer for 5 minutes.", ["set_timer"], ""),
    ("Open config.ini and tell me the port.", ["read_file"], ""),  # "open" reads a file: not such a verb
])
def test_unfit_object(task, tools, thing):
    from harness.refusals import tool_texts
    from harness.claims import unfit_object
    assert unfit_object(task, tool_texts([TOOLS[t] for t in tools])) == thing
