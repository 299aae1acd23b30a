"""harness: an agent harness for language models served locally by vLLM."""

from harness.client import AsyncClient, ChatDelta, ChatResult, Client, Usage
from harness.errors import HarnessError

__all__ = ["AsyncClient", "ChatDelta", "ChatResult", "Client", "HarnessError", "Usage"]
