"""The console clicked through in Debian's Chromium, against the suite as ``make start`` runs it
(supervisord, a temp dir, no management key in the config) and local fakes: the generated key
opens it; a Claude account signs in with the paste flow against the OAuth fake; a CLIProxyAPI
token file is uploaded, disabled and enabled again; a cooldown from a fake's 429 is reset;
a client key is created and used with the OpenAI SDK; usage downloads as CSV; a broken config
is reloaded and its bad key shown; the logs find a request by its id. Then no secret is in
any page, console API answer or log line.

One browser and one page for the module; the tests run in order and build on each other.
``CONSOLE_SCREENSHOTS=DIR`` (``make console-screenshots``) saves each screen as PNG in DIR.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import orjson
import pytest
import yaml

from tests.conftest import chromium_path
from tests.fakes import Fail, FakeAnthropic, FakeOpenAI, Reply
from tests.fakes.oauth import FakeOAuth
from tests.ops.conftest import ROOT, Suite, force_cleanup, make_suite, wait_for
from tests.router.observability.test_supervised import FakesThread

CLIENT_KEY = "sk-console-browser-client-0001"
UPSTREAM_OK = "sk-console-upstream-ok-00001"
UPSTREAM_LIMITED = "sk-console-upstream-429-0001"
UPLOADED = "second@example.com"
DESKTOP = {"width": 1180, "height": 860}
PHONE = {"width": 390, "height": 844}
SHOTS = os.environ.get("CONSOLE_SCREENSHOTS", "")
TIMEOUT = 15000  # ms, for the page to show an answer


@dataclass
class Console:
    suite: Suite
    claude: FakeOAuth
    key: str = ""
    start_output: str = ""
    page: Any = None
    context: Any = None
    info: dict[str, Any] = field(default_factory=dict)
    secrets: list[str] = field(default_factory=list)
    html: list[str] = field(default_factory=list)  # the page's HTML at each screen
    responses: list[Any] = field(default_factory=list)  # the console's API answers
    request_ids: list[str] = field(default_factory=list)
    once: set[str] = field(default_factory=set)  # shown once by design (a new client key)

    def shot(self, name: str) -> None:
        self.html.append(self.page.content())
        if SHOTS:
            Path(SHOTS).mkdir(parents=True, exist_ok=True)
            self.page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)

    def tab(self, name: str) -> None:
        """Open a tab and wait until it has drawn what it fetched (a fresh draw, not one
        left from an earlier visit)."""
        before = self.page.evaluate("() => document.body.dataset.loaded || ''")
        self.page.click(f"#tab-{name}")
        self.page.wait_for_function(
            "([name, before]) => { const now = document.body.dataset.loaded || '';"
            " return now !== before && now.startsWith(name + ':'); }",
            arg=[name, before],
            timeout=TIMEOUT,
        )


def _edit(claude: FakeOAuth, anth: FakeAnthropic, ok: FakeOpenAI, limited: FakeOpenAI, base: Path):
    def edit(data: dict[str, Any]) -> None:
        data["server"].update(api_keys=[CLIENT_KEY], workers=1)
        for prov in data["providers"].values():
            if prov.get("kind") in ("aistudio", "webai"):
                prov["enabled"] = False
        data["providers"]["llmux-claude"] = {
            "kind": "claude-oauth",
            "base_url": anth.base_url,
            "models": ["claude-console-test"],
            "oauth": {
                "authorize_url": claude.authorize_url,
                "token_url": claude.token_url,
                "paste_redirect_uri": claude.paste_redirect_uri,
            },
        }
        data["providers"]["console-ok"] = {
            "kind": "openai-compatible",
            "base_url": ok.base_url,
            "api_keys": [UPSTREAM_OK],
            "models": ["ok-model"],
        }
        data["providers"]["console-limited"] = {
            "kind": "openai-compatible",
            "base_url": limited.base_url,
            "api_keys": [UPSTREAM_LIMITED],
            "models": ["cool-model"],
        }
        data["models"]["routing"][:0] = [
            {"pattern": "^ok-model$", "providers": ["console-ok"]},
            {"pattern": "^cool-model$", "providers": ["console-limited"]},
            {"pattern": "^claude-console", "providers": ["llmux-claude"]},
        ]
        data["usage"] = {"path": str(base / "data" / "usage.sqlite3"), "retention_days": 30}

    return edit


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    from playwright.sync_api import sync_playwright

    chromium = chromium_path()  # under CI a missing Chromium fails, never skips
    claude = FakeOAuth("claude")
    anth = FakeAnthropic()
    ok = FakeOpenAI(default=Reply(text="fine thanks", usage=(3, 2)))
    limited = FakeOpenAI(default=Fail(429, retry_after=600))
    with FakesThread(claude, anth, ok, limited):  # type: ignore[arg-type]
        anth.api_keys = claude.access  # the tokens the OAuth fake issues are the API's keys
        base = tmp_path_factory.mktemp("console")
        suite = make_suite(base, _edit(claude, anth, ok, limited, base))
        state = Console(suite, claude)
        try:
            started = suite.run("start.sh")
            assert started.returncode == 0, started.stdout + started.stderr
            state.start_output = started.stdout
            with sync_playwright() as pw:
                browser = pw.chromium.launch(
                    executable_path=chromium,
                    headless=True,
                    args=["--no-sandbox", "--disable-background-networking", "--disable-sync"],
                )
                try:
                    state.context = browser.new_context(viewport=DESKTOP, accept_downloads=True)
                    state.page = state.context.new_page()
                    state.page.on("response", _keep(state))
                    yield state
                finally:
                    browser.close()
        finally:
            force_cleanup(suite)


def _keep(state: Console):
    def keep(response: Any) -> None:
        path = response.url.split(state.suite.url, 1)[-1]
        if path.startswith(
            ("/v1/console/", "/v1/auth/", "/status.json", "/v1/usage", "/console")
        ) or (path.startswith("/v1/keys") and response.request.method != "POST"):
            state.responses.append(response)

    return keep


def _cli_key(suite: Suite) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "router", "management-key"],
        env=suite.env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


# -- the tests, in order ---------------------------------------------------------------


def test_first_start_generates_the_key_and_prints_the_console(console: Console) -> None:
    out = console.start_output
    assert f"console: {console.suite.url}/console" in out, out
    assert "python -m router management-key" in out
    assert "management key generated (first run)" in out
    path = console.suite.base / "auth" / "management.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    console.key = _cli_key(console.suite)
    assert console.key == path.read_text().strip() and len(console.key) >= 40
    console.secrets += [console.key, CLIENT_KEY, UPSTREAM_OK, UPSTREAM_LIMITED]


def test_the_console_opens_with_the_generated_key_only(console: Console) -> None:
    page = console.page
    page.goto(f"{console.suite.url}/console")
    page.wait_for_selector("#signin-form")
    assert page.is_visible("#signin") and page.is_hidden("#console")
    console.html.append(page.content())  # before the key: nothing but the form
    page.fill("#key", "not-the-key-0123456789abcdefghij")
    page.click("#signin button")
    page.wait_for_selector("#signin-error:not(:empty)", timeout=TIMEOUT)
    assert page.is_hidden("#console")
    page.fill("#key", console.key)
    page.click("#signin button")
    page.wait_for_selector('body[data-loaded^="overview:"]', timeout=TIMEOUT)
    page.wait_for_selector('#programs [data-program="router:router_00"]', timeout=TIMEOUT)
    assert page.evaluate("() => sessionStorage.getItem('cliproxy-management-key')") == console.key
    assert page.evaluate("() => document.cookie") == ""  # the key is never a cookie
    console.shot("overview")
    with httpx.Client(timeout=10) as http:
        console.info = http.get(
            f"{console.suite.url}/v1/console/info", headers={"X-Management-Key": console.key}
        ).json()


def test_a_claude_account_signs_in_with_the_paste_flow(console: Console) -> None:
    page = console.page
    console.tab("accounts")
    page.select_option("#login-provider", "claude")
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#login-step:not([hidden])", timeout=TIMEOUT)
    url = page.get_attribute("#login-link", "href")
    assert url and url.startswith(console.claude.authorize_url)
    # The user opens the link, approves, and Claude's page shows CODE#STATE.
    approval = console.context.new_page()
    approval.goto(url)
    code = approval.inner_text("code")
    approval.close()
    assert "#" in code
    console.secrets.append(code.split("#", 1)[0])
    page.fill("#login-code", code)
    page.click("#login-finish")
    page.wait_for_selector("#login-message >> text=Signed in as user@example.com", timeout=TIMEOUT)
    page.wait_for_selector('[data-name="claude-user@example.com"]', timeout=TIMEOUT)
    assert page.input_value("#login-code") == ""
    # The account serves: a Claude request through the router.
    client = anthropic.Anthropic(base_url=console.suite.url, api_key=CLIENT_KEY, max_retries=0)
    raw = client.messages.with_raw_response.create(
        model="claude-console-test", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
    )
    console.request_ids.append(raw.headers["x-request-id"])
    assert raw.parse().content[0].text
    console.shot("accounts")


def test_a_cliproxyapi_token_file_uploads(console: Console, tmp_path: Path) -> None:
    access, refresh = console.claude.issue()
    console.secrets += [access, refresh]
    doc = {
        "id_token": "",
        "access_token": access,
        "refresh_token": refresh,
        "last_refresh": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "email": UPLOADED,
        "type": "claude",
        "expired": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600)),
    }
    path = tmp_path / f"claude-{UPLOADED}.json"
    path.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2))
    page = console.page
    page.set_input_files("#token-file", str(path))
    page.click("#upload-form button[type=submit]")
    page.wait_for_selector("#upload-message .ok", timeout=TIMEOUT)
    assert f"claude-{UPLOADED}" in page.inner_text("#upload-message")
    page.wait_for_selector(f'[data-name="claude-{UPLOADED}"]', timeout=TIMEOUT)
    stored = console.suite.base / "auth" / f"claude-{UPLOADED}.json"
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    # A file of another kind is refused in words.
    other = tmp_path / "gemini-x.json"
    other.write_text('{"type": "gemini", "token": {"access_token": "ya29.never-used-000"}}')
    page.set_input_files("#token-file", str(other))
    page.click("#upload-form button[type=submit]")
    page.wait_for_selector("#upload-message .error", timeout=TIMEOUT)
    assert "not one this router serves" in page.inner_text("#upload-message")


def test_disable_and_enable_it_again(console: Console) -> None:
    page = console.page
    row = f'li[data-name="claude-{UPLOADED}"]'
    page.click(f'{row} button[data-action="disable"]')
    page.wait_for_selector(f'{row}[data-state="disabled"]', timeout=TIMEOUT)
    assert "Disabled" in page.inner_text("#accounts-message")
    stored = orjson.loads((console.suite.base / "auth" / f"claude-{UPLOADED}.json").read_bytes())
    assert stored["disabled"] is True
    page.click(f'{row} button[data-action="enable"]')
    page.wait_for_selector(f'{row}[data-state="ready"]', timeout=TIMEOUT)
    stored = orjson.loads((console.suite.base / "auth" / f"claude-{UPLOADED}.json").read_bytes())
    assert "disabled" not in stored
    # Delete asks first: Cancel keeps it.
    page.click(f'{row} button[data-action="delete"]')
    page.wait_for_selector("#confirm[open]")
    page.click("#confirm-no")
    assert page.is_visible(row)


def test_reset_a_cooldown_caused_by_a_429(console: Console) -> None:
    client = openai.OpenAI(base_url=f"{console.suite.url}/v1", api_key=CLIENT_KEY, max_retries=0)
    with pytest.raises(openai.RateLimitError) as limited:
        client.chat.completions.create(
            model="cool-model", messages=[{"role": "user", "content": "hi"}]
        )
    console.request_ids.append(limited.value.response.headers["x-request-id"])
    page = console.page
    console.tab("overview")
    console.tab("accounts")
    row = '[data-provider="console-limited"] li.cred'
    page.wait_for_selector(f'{row}[data-state="cooling"]', timeout=TIMEOUT)
    assert "cooldown" in page.inner_text(f"{row} .cooldown")
    console.shot("accounts-cooldown")
    assert console.info["features"]["reset"] is True
    page.click(f'{row} button[data-action="reset"]')
    page.wait_for_selector(f'{row}[data-state="ready"]', timeout=TIMEOUT)
    assert "back in rotation" in page.inner_text("#accounts-message")
    assert not page.query_selector("#accounts-message .error")


def test_a_client_key_is_created_and_works_with_the_openai_sdk(console: Console) -> None:
    assert console.info["features"]["keys"], "the router reports no /v1/keys"
    page = console.page
    console.tab("keys")
    assert "1 client key set in server.api_keys" in page.inner_text("#api-keys-count")
    page.fill("#key-name", "sdk-laptop")
    page.fill("#key-requests_per_minute", "100")
    page.click("#key-form button[type=submit]")
    page.wait_for_selector("#new-key", timeout=TIMEOUT)
    new_key = page.inner_text("#new-key").strip()
    assert new_key.startswith("cpa-")
    console.once.add(new_key)
    console.shot("keys")
    console.html.pop()  # the one screen that shows it, by design
    client = openai.OpenAI(base_url=f"{console.suite.url}/v1", api_key=new_key, max_retries=0)
    raw = client.chat.completions.with_raw_response.create(
        model="ok-model", messages=[{"role": "user", "content": "hi"}]
    )
    assert raw.parse().choices[0].message.content == "fine thanks"
    console.request_ids.append(raw.headers["x-request-id"])
    page.wait_for_selector('tr[data-key="sdk-laptop"] button[data-revoke]')
    page.click('tr[data-key="sdk-laptop"] button[data-revoke]')
    page.click("#confirm-yes")
    page.wait_for_selector('tr[data-key="sdk-laptop"][data-state="revoked"]', timeout=TIMEOUT)

    def refused() -> bool:  # revocation reaches the router within about a second
        try:
            client.chat.completions.create(
                model="ok-model", messages=[{"role": "user", "content": "hi"}]
            )
        except openai.AuthenticationError:
            return True
        return False

    assert wait_for(refused, 5)
    assert new_key not in page.content()  # shown once: gone after the list was redrawn


def test_usage_per_day_and_its_csv(console: Console) -> None:
    page = console.page
    console.tab("usage")
    page.select_option("#usage-by", "model")
    page.wait_for_function(
        "() => Number(document.querySelector('#usage-chart').dataset.bars) > 0", timeout=TIMEOUT
    )
    assert page.is_visible("#usage-table table")
    console.shot("usage")
    with page.expect_download(timeout=TIMEOUT) as waiting:
        page.click("#usage-csv")
    text = Path(waiting.value.path()).read_text()
    lines = text.splitlines()
    assert lines[0].startswith("day,model,requests,errors,tokens_in")
    models = {line.split(",")[1] for line in lines[1:]}
    assert {"claude-console-test", "cool-model"} <= models, text


def test_a_broken_config_is_reloaded_and_its_key_shown(console: Console) -> None:
    path = console.suite.config
    good = path.read_text()
    data = yaml.safe_load(good)
    data["server"]["limits"]["max_conections"] = 5  # misspelt
    page = console.page
    console.tab("config")
    assert page.is_visible('tr[data-key="server.port"]')
    assert "(set)" in page.inner_text('tr[data-key="management.key"]')
    assert "generated" in page.inner_text('tr[data-key="management.key"]')
    try:
        path.write_text(yaml.safe_dump(data))
        page.click("#reload")
        page.wait_for_selector('#reload-result [data-ok="false"]', timeout=TIMEOUT)
        item = page.inner_text(".reload-errors li")
        assert "server.limits" in item and "max_conections" in item
        page.fill("#config-filter", "server.limits")  # a short table for the picture
        console.shot("config-reload-error")
        page.fill("#config-filter", "")
    finally:
        path.write_text(good)
    page.click("#reload")
    page.wait_for_selector('#reload-result [data-ok="true"]', timeout=TIMEOUT)


def test_logs_find_a_request_by_its_id(console: Console) -> None:
    page = console.page
    console.tab("logs")
    wanted = console.request_ids[0]
    page.fill("#logs-q", wanted)
    page.click("#logs-form button[type=submit]")
    # The tab shows every line before the search's answer replaces them (the wanted row
    # among them): wait for the answer itself, one row, then check it.
    page.wait_for_function(
        "id => { const rows = document.querySelectorAll('#logs-access tbody tr');"
        " return rows.length === 1 && rows[0].dataset.requestId === id; }",
        arg=wanted,
        timeout=TIMEOUT,
    )
    assert len(page.query_selector_all("#logs-access tbody tr")) == 1
    assert page.query_selector(f'#logs-access tr[data-request-id="{wanted}"]') is not None
    # The 429's request: its access line, and the warnings it caused (the failed attempt).
    limited = console.request_ids[1]
    page.fill("#logs-q", limited)
    page.select_option("#logs-kind", "errors")
    page.click("#logs-form button[type=submit]")
    page.wait_for_selector(f'#logs-access tr[data-request-id="{limited}"]', timeout=TIMEOUT)
    page.wait_for_selector(f'#logs-problems li[data-request-id="{limited}"]', timeout=TIMEOUT)
    console.shot("logs")


def test_every_screen_fits_a_phone_and_keyboard_moves_between_tabs(console: Console) -> None:
    page = console.page
    page.set_viewport_size(PHONE)
    try:
        for name in ("overview", "accounts", "keys", "usage", "config", "logs"):
            console.tab(name)
            width = page.evaluate("() => document.documentElement.scrollWidth")
            assert width <= PHONE["width"], (name, width)
        console.tab("accounts")
        console.shot("accounts-phone")
        page.focus("#tab-accounts")
        page.keyboard.press("ArrowRight")
        page.wait_for_selector('body[data-tab="keys"]', timeout=TIMEOUT)
        assert page.evaluate("() => document.activeElement.id") == "tab-keys"
    finally:
        page.set_viewport_size(DESKTOP)


def test_no_secret_in_any_page_answer_or_log_line(console: Console) -> None:
    secrets = [*console.secrets, *console.claude.secrets()]
    assert len(secrets) >= 8
    bodies = []
    for response in console.responses:
        try:
            bodies.append(response.text())
        except Exception:  # an answer the browser did not keep (a redirect, a download)
            continue
    assert len(bodies) >= 20, len(bodies)
    logs = [p.read_text(errors="replace") for p in (console.suite.base / "logs").glob("*.log*")]
    assert logs and any('"event":"request"' in text for text in logs)
    haystacks = {
        **{f"page {i}": h for i, h in enumerate(console.html)},
        **{f"answer {i}": b for i, b in enumerate(bodies)},
        **{f"log {i}": text for i, text in enumerate(logs)},
    }
    for where, text in haystacks.items():
        for secret in secrets:
            assert secret not in text, f"a secret leaked into {where}"
    # A new client key is shown once (the answer that made it: POST /v1/keys is not
    # recorded above, nor the screen that shows it), and nowhere else.
    for where, text in haystacks.items():
        for secret in console.once:
            assert secret not in text, f"the new client key is in {where}"
