"""Local fake upstreams that speak the real provider wire formats."""

from ._base import Recorded, unused_port
from ._behaviours import Delay, Fail, Hang, Reply, ResetAfter, ToolCall
from .anthropic import FakeAnthropic
from .openai import FakeOpenAI

__all__ = ["Delay", "Fail", "FakeAnthropic", "FakeOpenAI", "Hang", "Recorded", "Reply", "ResetAfter", "ToolCall", "unused_port"]
