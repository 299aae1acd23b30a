"""harness: an agent harness for language models served locally by vLLM."""

from harness.agent import Agent
from harness.client import AsyncClient, ChatDelta, ChatResult, Client, Usage
from harness.errors import HarnessError
from harness.events import Result
from harness.run import Policy
from harness.tools import Tool, tool

__all__ = ["Agent", "AsyncClient", "ChatDelta", "ChatResult", "Client", "HarnessError", "Policy", "Result", "Tool",
           "Usage", "tool"]
