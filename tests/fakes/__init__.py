"""Local fake upstreams that speak the real provider wire formats.

    async with FakeAnthropic(api_keys=("sk-ant-test",)) as fake:
        fake.enqueue(Fail(429, retry_after=3), Reply(text="hi", tool_calls=(ToolCall(...),)))
        ...  # point the router at fake.base_url
        fake.requests[-1].json  # what the router sent

* ``FakeAnthropic``: ``base_url`` ``http://127.0.0.1:PORT`` (``/v1/messages``,
  ``/v1/messages/count_tokens``, ``/v1/models``).
* ``FakeOpenAI``: ``base_url`` ``http://127.0.0.1:PORT/v1`` (``/chat/completions``,
  ``/responses``, ``/models``); ``codex_base_url`` for the ChatGPT Codex
  backend (``/backend-api/codex/responses``).
* ``FakeGemini``: ``base_url`` ``http://127.0.0.1:PORT`` (``/v1beta/models/{m}:
  generateContent | streamGenerateContent | countTokens``; ``v1``/``v1alpha`` too).

Behaviours, consumed one per model request (``default`` when the queue is
empty): ``Reply``, ``Fail``, ``FailAfter``, ``Hang``, ``ResetAfter``, ``Delay``.
Each fake checks auth against ``api_keys`` (empty: accept anything) and
validates bodies like the real API, answering its real 4xx bodies.
Sign-in fakes (imported from their modules): ``tests.fakes.oauth.FakeOAuth``
(Claude / OpenAI authorize and token endpoints) and
``tests.fakes.ctonew.FakeCtoNew`` (Clerk, EngineLabs HTTP and its buffer socket).
``MisbehavingUpstream`` (``tests.fakes.misbehave``) breaks HTTP and the wire formats
on purpose (hangs, stalls, bad chunk sizes, endless lines, huge bodies, HTML
pages, echoed keys, 5xx storms), chosen per request by model name or path.
``python -m tests.fakes PROVIDER --port N`` runs one out of process;
``tests.fakes.sdk`` drives any such endpoint with the official SDKs.
"""

from ._base import Recorded, unused_port
from ._behaviours import Behaviour, Delay, Fail, FailAfter, Hang, Reply, ResetAfter, ToolCall
from ._sse import read_events
from .anthropic import FakeAnthropic, thinking_signature
from .gemini import FakeGemini, thought_signature
from .misbehave import MisbehavingUpstream, Misbehaviour
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
    "MisbehavingUpstream",
    "Misbehaviour",
    "Recorded",
    "Reply",
    "ResetAfter",
    "ToolCall",
    "read_events",
    "thinking_signature",
    "thought_signature",
    "unused_port",
]
