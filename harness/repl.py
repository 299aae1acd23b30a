"""`harness chat`: a line-by-line chat with streamed replies.

Ctrl-C cancels the reply being streamed (closing the HTTP stream aborts it on the server) and
keeps the session; Ctrl-D or /exit leaves.
"""

from __future__ import annotations

import sys
from typing import Any, TextIO

from harness.client import ChatResult, Client
from harness.errors import HarnessError

SYSTEM = "You are a helpful assistant running locally through the harness. Answer concisely."


def status_line(result: ChatResult) -> str:
    u = result.usage
    share = u.cached_tokens / u.prompt_tokens if u.prompt_tokens else 0.0
    decode = result.elapsed_s - (result.ttft_s or 0.0)
    rate = (u.completion_tokens - 1) / decode if u.completion_tokens > 1 and decode > 0 else 0.0
    ttft = f"{result.ttft_s:.2f}s" if result.ttft_s is not None else "-"
    return (f"[{u.prompt_tokens} prompt tokens, {u.cached_tokens} cached ({share:.0%}), "
            f"ttft {ttft}, {rate:.1f} tok/s, stop: {result.finish_reason}]")


def chat(client: Client, *, system: str = SYSTEM, stdin: TextIO = sys.stdin, out: TextIO = sys.stdout) -> None:
    messages: list[dict[str, Any]] = [{"role": "system", "content": system}]
    out.write(f"harness chat: {client.model} at {client.base_url}. Ctrl-C cancels a reply, Ctrl-D exits.\n")
    while True:
        out.write("> ")
        out.flush()
        try:
            line = stdin.readline()
        except KeyboardInterrupt:
            out.write("\n")
            continue
        if not line:
            out.write("\n")
            return
        text = line.strip()
        if not text:
            continue
        if text in ("/exit", "/quit"):
            return
        messages.append({"role": "user", "content": text})
        reply = ""
        try:
            for item in client.stream_chat(messages, temperature=0.2):
                if isinstance(item, ChatResult):
                    out.write(f"\n{status_line(item)}\n")
                else:
                    reply += item.text
                    out.write(item.text)
                    out.flush()
        except KeyboardInterrupt:
            out.write("\n[cancelled]\n")
        except HarnessError as exc:
            out.write(f"\nerror: {exc}\n")
            messages.pop()  # the turn did not happen; keep the transcript consistent
            continue
        # The model's own text, verbatim, so the next prompt extends this one (prefix cache).
        messages.append({"role": "assistant", "content": reply})
