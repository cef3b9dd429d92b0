"""Local fake upstreams that speak the real provider wire formats.

Start one per test (``async with FakeAnthropic(api_keys=(...,)) as fake``),
point the router at ``fake.base_url``, script answers with
``fake.enqueue(...)`` and inspect ``fake.requests``. See each provider
module for the wire facts it reproduces.
"""

from ._base import Recorded, unused_port
from ._behaviours import Behaviour, Delay, Fail, FailAfter, Hang, Reply, ResetAfter, ToolCall
from .anthropic import FakeAnthropic, thinking_signature
from .gemini import FakeGemini, thought_signature
from .openai import FakeOpenAI

__all__ = [
    "Behaviour",
    "Delay",
    "Fail",
    "FailAfter",
    "FakeAnthropic",
    "FakeGemini",
    "FakeOpenAI",
    "Hang",
    "Recorded",
    "Reply",
    "ResetAfter",
    "ToolCall",
    "thinking_signature",
    "thought_signature",
    "unused_port",
]
