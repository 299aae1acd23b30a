"""A script agent with a tool of its own. Run a server first (`harness serve --wait`), then:

    .venv/bin/python examples/weather_agent.py "What's the weather in Oslo?"
"""

from __future__ import annotations

import sys
from typing import Literal

from harness import Agent, tool
from harness.events import Final, ToolCallEvent, ToolResultEvent

FAKE_WEATHER = {"oslo": (4, "sleet"), "lima": (19, "overcast"), "cairo": (31, "sunny")}


@tool
def get_weather(city: str, unit: Literal["celsius", "fahrenheit"] = "celsius") -> dict:
    """Get the current weather for a city.

    Args:
        city: the city name
        unit: temperature unit
    """
    celsius, sky = FAKE_WEATHER.get(city.lower(), (15, "clear"))
    temperature = celsius if unit == "celsius" else round(celsius * 9 / 5 + 32)
    return {"city": city, "temperature": temperature, "unit": unit, "sky": sky}


def main() -> int:
    question = " ".join(sys.argv[1:]) or "What's the weather in Lima?"
    with Agent(tools=[get_weather]) as agent:  # closes its connections when done
        for event in agent.stream(question):
            if isinstance(event, ToolCallEvent):
                print(f"-> {event.call.name}({event.call.arguments})")
            elif isinstance(event, ToolResultEvent):
                print(f"<- {event.result.output}")
            elif isinstance(event, Final):
                result = event.result
                print(result.text if result.ok else f"no answer: {result.stop_reason} {result.error or ''}")
                print(f"[{result.usage.prompt_tokens} prompt tokens, {result.usage.cached_tokens} from cache]")
                return 0 if result.ok else 1
    return 1


if __name__ == "__main__":
    sys.exit(main())
