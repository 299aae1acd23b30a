"""The harness-side techniques that make a small model a better tool user, each one a switch.

`harness bench tooluse --without NAME` measures each on and off in one run (README: the table).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace


@dataclass(frozen=True)
class Techniques:
    # Worked examples in the stable system prompt: calling, answering without a call, declining for
    # want of a tool, asking for a missing value, two calls at once, a call that feeds the next.
    examples: bool = True
    # Under guided decoding one action may be a JSON list of calls, so independent calls take one turn.
    parallel: bool = True
    # The run's first action is an answer when the model gives answering a probability of 25% or more at
    # the first token of the action's name (read by a short request first: harness/decide.py). Measured
    # with the 0.5B model: general questions got a third of that probability or more, and a tool call.
    decide: bool = True
    # When decide made the first action an answer, and the model gives an answer that opens with "Sorry" 2%
    # or more (read the same way), the answer opens with "Sorry, I can't". Measured with the 0.5B model:
    # asked for something no tool does, it answered "Turned on the living room lights."
    decline: bool = True
    # With decide: a request that opens with an action no offered tool's text carries ("Book me a hotel
    # room" where the tools find restaurants; claims.unfit_action), where the model gives answering 2% or
    # more, is answered, opening "Sorry, I can't". Measured with the 0.5B model over the benchmark: those
    # requests put 4-98% there, and it called the look-alike (find_restaurants for a hotel, get_stock_price
    # to buy shares); no request a tool fits opened so. And the other way: a request a part of which opens with
    # a tool's verb ("..., and translate 'good morning' into German") has a call as its first action. So
    # is a question for a thing when no word of the request is a word of any tool (claims.unfit_thing: "the
    # capital of Norway" beside get_population is answered; "the air quality index in Paris today", about
    # now or the user's own things, declined): the model had called the look-alike and answered its number.
    unfit: bool = True
    # A required short value (a name, an id, a number) must appear in what the user wrote or a tool
    # returned; a guessed one is sent back with "ask the user or look it up".
    grounding: bool = True
    # A guessed value that is a near copy of the user's word ("Lisboa" for "Lisbon", "Toyko") becomes
    # that word, and one with a word added to theirs ("Keiko Kim" for "Keiko") their words; the call
    # runs. Seen with the 0.5B model: sent back with "Call again with city='Lisbon'", it declined, or
    # answered "Lisboa: 121" with the same call beside it. And a value the model wrapped in words of its own
    # runs as it was given: "14:30" of "14:30 AM" (HH:MM), "." of ". for the top" (the description's value
    # and its meaning), the quoted 'Dentist' of "Dentist appointment on December 3, 2026 at 14:30".
    repair: bool = True
    # A required value nobody said that comes from the harness's side is a guess too: a placeholder
    # ("file_path"), the parameter's own description ("words to look for") or example, or a phrase
    # of the worked examples (their decline pasted as an email body).
    copied: bool = True
    # After a value was refused as a guess and no tool says it finds such a value, the next action is a
    # question to the user. Seen with the 0.5B model: offered the other tools too, it went from one to the
    # next with invented values (set_timer 60 after create_reminder's refused time).
    ask: bool = True
    # With ask: where the model gave answering UNSURE_AT or more at the run's first action (decide's probe)
    # and then called a tool with a guessed value, the next action is an answer that may decline or ask,
    # not ask_user. Measured with the 0.5B model over the benchmark: of the runs asked to ask, those whose
    # request was missing a value put 0.1-4.6% there (one 10%); requests no tool fits, general questions
    # and calls of the wrong tool 5-21%, and asked back "What is the unit to convert from?" for "turn
    # the thermostat up".
    unsure: bool = True
    # After a value was refused as a guess, the one other tool whose description says it returns such a
    # value (get_contact "returns their email address" for send_email's "recipient's email address")
    # is named, and the next action is that tool or a question to the user.
    lookup: bool = True
    # When the tool named by lookup has run, the line after its result names the refused call and the
    # value to use now ("Now call search_flights with origin 'LIS'"). Seen with the 0.5B model: without
    # it, it made the refused call again unchanged, or answered with the looked-up value. Once that call
    # has run, it is not offered next turn (the model made it again, with the answer due). And a value
    # refused as a guess that a result already gave (the contact's email, looked up before the call) is
    # named in the refusal, and that call is the next action.
    fill: bool = True
    # The values a note names for the next call ("call get_airport_code with city 'lisbon'", "Now call
    # get_orders with customer_id 'C-4821'", an email body "saying what the user said") are the only values
    # guided decoding lets that call's parameter take; and a lookup named "with what the user gave" takes a
    # piece of what the user or a result said (grounding.spans), not a word of its own. Seen with the 0.5B
    # model: told to look up city 'lisbon', it looked up 'LISBO'; told to write the body the user said, it
    # pasted the examples' decline twice; told to look up the contact "with what the user gave", it looked
    # up the email address it had guessed.
    pin: bool = True
    # After a call used one of several values the user listed together ("Paris or Madrid"), the line after
    # its result names the calls still to make ("Now call get_weather with city 'Madrid' too"). Seen with
    # the 0.5B model: it looked up Paris, then answered "Paris is warmer" (harness/siblings.py).
    siblings: bool = True
    # A value in a form its description rules out (a name where an email address goes, "Rome" where an
    # airport code "e.g. OSL" goes, "10:00 AM" for HH:MM) is sent back: rewrite it, look it up or ask. So is
    # a word the user said, in capitals, where a code of another length goes ("OSLO" for "e.g. CDG"). A value
    # the user gave in the form of another tool's one required parameter goes to that tool first ('MSFT' for
    # get_exchange_rate's base is get_stock_price's symbol), and a code only one tool takes ("NVDA") makes the
    # run's first action that tool's call, though the model gave answering 25% or more (decide).
    shapes: bool = True
    # An optional argument whose short value nobody gave (a timer labelled "Timer 1") is left out, so
    # the tool's default applies.
    trim_optional: bool = True
    # An answer that reports an action no tool did ("Sent to Bob", "Order O-7731 cancelled" with no tool
    # that sends or cancels run) is sent back once: call the tool that does it, or say it can't be done.
    claims: bool = True
    # After tool calls, an answer while a tool whose verb the task says ("convert", "read", "send") has not
    # run is sent back once: call it now. So is one while a part of the task that no call covers names a
    # tool by its noun (", and what's the weather there today?": get_weather), and that tool is the next
    # action. Seen with the 0.5B model: with the share price in, it answered
    # "187.33 British pounds." instead of converting it.
    untried: bool = True
    # A file the user names is read before the answer: an answer (one that does not decline) while no tool
    # that reads files has been given that name is sent back once, and the next action is that tool. So is
    # a file the user speaks of by a listed file's stem ("the todo file" once a listing has todo.md).
    # Seen with the 0.5B model: "Which port is set in config.ini?" answered "8080" from memory, and again
    # when told that no tool gave it; "... described in notes.txt" put on the calendar with a made-up time.
    read_named: bool = True
    # After tool calls, a final answer with numbers that no message contains is sent back once.
    answer_check: bool = True
    # After tool calls, an answer that uses nothing some result returned (and no later call used it
    # either) is sent back once, naming the result.
    coverage: bool = True
    # An answer that coverage sent back is kept, and the next answer, asked for only what it left out, is
    # added to it. Seen with the 0.5B model: told its answer left Norway out, it answered about Norway alone.
    complete: bool = True
    # With complete: the answer asked for what the last one left out opens with the subject of the first
    # result left out, its call's first text value ("Norway: "), a JSON Schema pattern. Seen with the 0.5B
    # model: told its answer left out Norway's population, it answered "5594000 people in Iceland."
    labelled: bool = True
    # A constrained answer cut off by max_tokens is taken as far as it goes, without the loop it ended in
    # ("23:40, 23:40, 23:40, ..." is "23:40"). Seen with the 0.5B model: sent back as an unfinished call,
    # it wrote the same loop again until the run's turns ran out.
    unloop: bool = True
    # After tool results, the answer after one sent back as an echo is an answer that opens with the first
    # result's subject ("Tokyo: "), or, where no result has one, not with the letter any echo opened with (a
    # JSON Schema pattern). Seen with the 0.5B model: it wrote the task and the note after it back, word for
    # word, turn after turn, with all three cities' weather in; kept off the letter, it wrote "The weather
    # check for ..." and then the examples' decline.
    unecho: bool = True
    # A final answer that only repeats the harness's own notes is rejected and retried.
    echo_guard: bool = True
    # When only one retry is left, the next action must be an answer (not another refused call).
    last_chance: bool = True
    # A run whose steps ran out right after calls that ran gets one more request, for an answer only, from
    # the results in (as smolagents gives a final answer at max_steps). Seen with the 0.5B model: the note
    # found, the owner's address looked up and the email sent on the sixth step, it stopped with no answer.
    wrap_up: bool = True
    # The run's task is restated after each tool result, so the answer is to it, not to an example.
    restate_task: bool = True

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    @classmethod
    def none(cls) -> "Techniques":
        return cls(**{name: False for name in cls.names()})

    def without(self, *names: str) -> "Techniques":
        unknown = [n for n in names if n not in self.names()]
        if unknown:
            raise ValueError(f"unknown technique(s) {unknown}; known: {', '.join(self.names())}")
        return replace(self, **{n: False for n in names})
