"""A fake Google AI Studio for the browser-pool tests (see ``_server`` and ``_page``).

async with FakeAIStudio() as site:
    site.enqueue(Answer(text="hi there", thinking="hmm", delay=0.05))
    store.save("default", site.storage_state())   # a signed-in profile
    ...  # point providers.aistudio.page.url at site.url, signin_hosts at ["localhost"]
"""

from ._server import Answer, FakeAIStudio, GenerateCall, PageEvent

__all__ = ["Answer", "FakeAIStudio", "GenerateCall", "PageEvent"]
