"""Siblings: the values a request lists beside the one a call used (harness/siblings.py)."""

from __future__ import annotations

import time

import pytest

from harness.siblings import siblings

TOOLS = {"get_weather": ["city", "unit"], "get_time": ["city"], "get_stock_price": ["symbol"], "get_news": ["topic"],
         "read_file": ["path"], "send_email": ["to", "subject", "body"], "get_definition": ["word"],
         "lookup_customer": ["name"], "get_contact": ["name"], "get_orders": ["customer_id"],
         "convert_currency": ["amount", "from_currency", "to_currency"], "convert_units": ["value", "from_unit", "to_unit"],
         "set_timer": ["minutes", "label"]}


@pytest.mark.parametrize("request_,value,tool,found", [
    ("What's the weather in Oslo and in Rome?", "Oslo", "get_weather", [("Rome", "get_weather")]),
    ("Which is warmer right now, Paris or Madrid?", "Madrid", "get_weather", [("Paris", "get_weather")]),
    ("Weather check for Tokyo, Sydney and Nairobi please!", "Sydney", "get_weather",
     [("Nairobi", "get_weather"), ("Tokyo", "get_weather")]),
    ("Is Toronto or Berlin colder at the moment?", "Berlin", "get_weather", [("Toronto", "get_weather")]),  # not "Is"
    ("Between Lisbon and Madrid, where is it warmer?", "Madrid", "get_weather", [("Lisbon", "get_weather")]),
    ("Can you pull the current prices for AAPL, NVDA and AMZN?", "AAPL", "get_stock_price",
     [("NVDA", "get_stock_price"), ("AMZN", "get_stock_price")]),
    ("Look up the customer IDs for Maria Garcia and John Smith.", "John Smith", "lookup_customer",
     [("Maria Garcia", "lookup_customer")]),
    ("What do 'petrichor' and 'apricity' mean?", "petrichor", "get_definition", [("apricity", "get_definition")]),
    ("What did customers C-9034 and C-3310 order?", "c-9034", "get_orders", [("C-3310", "get_orders")]),
    ("Send it to dana@example.com and to lee@example.com, subject 'Late'.", "dana@example.com", "send_email",
     [("lee@example.com", "send_email")]),
    ("Show me what's in todo.md and in config.ini.", "todo.md", "read_file", [("config.ini", "read_file")]),
    ("Headlines on football and on climate, please.", "football", "get_news", [("climate", "get_news")]),  # not "please"
    ("what time is it in new york and in london", "New York", "get_time", [("london", "get_time")]),
    # The words between name another tool: the sibling goes to it.
    ("What's the weather in Paris, and what time is it in London?", "Paris", "get_weather", [("London", "get_time")]),
    ("hows the weather in seoul, and whats the time in oslo rn?", "seoul", "get_weather", [("oslo", "get_time")]),
    # Not a list: nothing.
    ("What is the weather in Paris?", "Paris", "get_weather", []),
    ("Email Bob and tell him the Paris weather", "Bob", "get_contact", []),
    ("How many people live in Lima, and what's the weather there today?", "Lima", "get_weather", []),
    ("Two quick conversions: 50 USD to EUR, and 3 miles to km.", "EUR", "convert_currency", []),  # 3 is no currency
    ("Price of AAPL and MSFT?", "TSLA", "get_stock_price", []),  # the value is not in the request
    ("Price of AAPL and MSFT?", 42, "get_stock_price", []),
    # Numbers are listed with their unit between them (seen: "Set two timers" set one, for 5 minutes).
    ("Set two timers: one for 5 minutes and one for 45 minutes.", 5, "set_timer", [("45", "set_timer")]),
    ("Timers for 10 and 20 minutes please", 10, "set_timer", [("20", "set_timer")]),
    ("Set a 5 minute timer and remind me in 45 minutes", 5, "set_timer", []),  # other words between: no list
    ("Set timers for 5 minutes and 45 seconds", 5, "set_timer", []),  # another unit
    ("Convert 100 USD and 200 EUR to JPY", 100.0, "convert_currency", []),
    ("Is 7 bigger than 5?", True, "set_timer", []),  # a bool is no number
])
def test_siblings(request_, value, tool, found):
    assert siblings(request_, value, tool, TOOLS) == found


def test_siblings_never_raise_and_stay_linear():
    for request_ in ["", "and " * 10, "'" * 5000, "Oslo " + "and Oslo " * 5000, "\x00\ud800 Oslo, and"]:
        assert isinstance(siblings(request_, "Oslo", "get_weather", TOOLS), list)
    assert siblings("Oslo and Rome", None, "get_weather", TOOLS) == []
    started = time.perf_counter()
    siblings("Oslo " + ", and in the " * 100_000 + "Rome", "Oslo", "get_weather", TOOLS)
    siblings("A, " * 200_000, "A", "get_weather", {f"t{i}": ["x"] for i in range(1000)})
    assert time.perf_counter() - started < 2


@pytest.mark.parametrize("request_,value", [
    ("What's the weather in Paris, France?", "Paris"),  # a comma alone makes no list
    ("Weather for Springfield, Illinois please", "Springfield"),
    ("Email Bob: Dinner with Carol and Dave is moved", "Dinner with Carol and Dave is moved"),  # prose, not a value
])
def test_no_siblings_where_there_is_no_list(request_, value):
    assert siblings(request_, value, "get_weather", TOOLS) == []
