"""The HTML of the fake AI Studio: the element names and selectors the driver uses.

Structure (as in ``shared/UPSTREAMS.md``): ``ms-prompt-input-wrapper`` /
``ms-autosize-textarea textarea``; ``ms-run-button button[type=submit]
[aria-label=Run]``; ``button[aria-label="Stop generating"]`` while
generating; answers in ``ms-chat-turn .chat-turn-container.model`` with text
in ``ms-cmark-node`` and thinking in ``ms-thought-chunk``; the model label
``[data-test-id=model-name]`` from localStorage ``aiStudioUserPreference
.promptModel``; errors as ``div.toast.error`` or ``ms-callout.error-callout
.message``. Tokens are appended to the DOM one by one on a timer.
"""

from __future__ import annotations

import json

__all__ = ["chat_page", "signin_page"]

_CHAT = """<!doctype html>
<html><head><meta charset="utf-8"><title>Google AI Studio (fake)</title>
<style>
 body { font-family: sans-serif; margin: 1em; }
 .chat-turn-container { border: 1px solid #ccc; margin: .3em 0; padding: .3em; }
 ms-thought-chunk { display: block; color: #777; font-style: italic; }
 .toast { position: fixed; bottom: 1em; right: 1em; background: #fdd; padding: .5em; }
</style></head>
<body>
<header>Model: <span data-test-id="model-name"></span></header>
<section class="run-settings">
 <label>Temperature <ms-slider><input class="slider-number-input" type="number" step="0.05"
   aria-valuemin="0" aria-valuemax="2" value="1"></ms-slider></label>
 <label>Top P <ms-slider><input class="slider-number-input" type="number" step="0.05"
   aria-valuemin="0" aria-valuemax="1" value="0.95"></ms-slider></label>
 <label>Output length <input type="number" aria-label="Maximum output tokens" value="65536"></label>
 <div class="stop-chips"></div>
 <input type="text" aria-label="Add stop token">
</section>
<ms-autoscroll-container><div class="chat-session-content"></div></ms-autoscroll-container>
<div class="toasts"></div>
<ms-prompt-input-wrapper>
 <ms-autosize-textarea><textarea aria-label="Enter a prompt" rows="3"></textarea></ms-autosize-textarea>
 <span class="run-slot"><ms-run-button><button type="submit" aria-label="Run" class="run-button"
   >Run</button></ms-run-button></span>
</ms-prompt-input-wrapper>
<script>
const CONFIG = __CONFIG__;
const $ = (s) => document.querySelector(s);
const prefsKey = "aiStudioUserPreference";
let prefs = {};
try { prefs = JSON.parse(localStorage.getItem(prefsKey) || "{}") || {}; } catch (e) { prefs = {}; }
let model = (prefs.promptModel || "").replace(/^models\\//, "");
if (!CONFIG.models.includes(model)) model = CONFIG.models[0];
$('[data-test-id="model-name"]').textContent = model;

const chat = $(".chat-session-content");
const run = $('ms-run-button button');
const textarea = $("ms-autosize-textarea textarea");
const stopInput = $('input[aria-label="Add stop token"]');
const chips = $(".stop-chips");
let generating = false, stopped = false;

function report(type, extra) {
  const body = Object.assign({type: type, at: Date.now(), model: model}, extra || {});
  return fetch("/api/events", {method: "POST", body: JSON.stringify(body),
    headers: {"Content-Type": "application/json"}}).catch(() => {});
}
stopInput.addEventListener("keydown", (e) => {
  if (e.key !== "Enter" || !stopInput.value) return;
  const chip = document.createElement("mat-chip");
  chip.dataset.value = stopInput.value;
  chip.innerHTML = '<span></span><button class="remove-button" aria-label="Remove stop token"' +
    '>x</button>';
  chip.querySelector("span").textContent = stopInput.value;
  chip.querySelector("button").onclick = () => chip.remove();
  chips.appendChild(chip);
  stopInput.value = "";
});
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
function turn(role) {
  const t = document.createElement("ms-chat-turn");
  t.innerHTML = '<div class="chat-turn-container ' + role + '"></div>';
  chat.appendChild(t);
  return t.firstChild;
}
function setGenerating(on) {
  generating = on;
  run.disabled = on;
  const old = $('button[aria-label="Stop generating"]');
  if (on && !old) {
    const stop = document.createElement("button");
    stop.setAttribute("aria-label", "Stop generating");
    stop.textContent = "Stop";
    stop.onclick = () => { stopped = true; report("stopped"); };
    $(".run-slot").appendChild(stop);
  } else if (!on && old) {
    old.remove();
  }
}
function toast(text) {
  const t = document.createElement("div");
  t.className = "toast error";
  t.textContent = text;
  $(".toasts").appendChild(t);
}
function callout(text) {
  const c = document.createElement("ms-callout");
  c.className = "error-callout";
  c.innerHTML = '<div class="message"></div>';
  c.firstChild.textContent = text;
  chat.appendChild(c);
}
run.addEventListener("click", async () => {
  const prompt = textarea.value;
  if (!prompt || generating) return;
  stopped = false;
  setGenerating(true);
  turn("user").textContent = prompt;
  const num = (s) => parseFloat($(s).value);
  const settings = {
    prompt: prompt, model: model,
    temperature: num('ms-slider input[aria-valuemax="2"]'),
    top_p: num('ms-slider input[aria-valuemax="1"]'),
    max_tokens: parseInt($('input[aria-label="Maximum output tokens"]').value, 10),
    stop: Array.from(chips.querySelectorAll("mat-chip")).map((c) => c.dataset.value),
  };
  const resp = await fetch("/api/generate", {method: "POST", body: JSON.stringify(settings),
    headers: {"Content-Type": "application/json"}});
  const script = await resp.json();
  if (script.delay_before_ms) await sleep(script.delay_before_ms);
  if (script.error === "quota") {
    toast("You've exceeded your current quota (rate limit). Please try again later.");
    setGenerating(false);
    return;
  }
  if (script.error) {
    callout(script.error);
    setGenerating(false);
    return;
  }
  const box = turn("model");
  let thought = null, node = null, first = true;
  for (const t of script.thinking) {
    await sleep(script.delay_ms);
    if (stopped) break;
    if (!thought) { thought = document.createElement("ms-thought-chunk"); box.appendChild(thought); }
    thought.textContent += t;
  }
  for (const t of script.tokens) {
    if (stopped) break;
    await sleep(script.delay_ms);
    if (stopped) break;
    if (!node) {
      const chunk = document.createElement("ms-text-chunk");
      node = document.createElement("ms-cmark-node");
      node.className = "cmark-node";
      chunk.appendChild(node);
      box.appendChild(chunk);
    }
    node.textContent += t;
    if (first) { first = false; report("first_token"); }
  }
  await report(stopped ? "ended_stopped" : "last_token", {rendered: node ? node.textContent : ""});
  setGenerating(false);
});
report("loaded");
</script>
</body></html>
"""

_SIGNIN = """<!doctype html>
<html><head><meta charset="utf-8"><title>Sign in - Google Accounts (fake)</title></head>
<body>
<h1>Sign in</h1>
<form method="post" action="/signin">
 <input type="hidden" name="continue" value="__CONTINUE__">
 <input type="email" name="identifier" aria-label="Email or phone" value="user@example.com">
 <button type="submit" id="next">Next</button>
</form>
<script>
const AUTO = __AUTO__;
if (AUTO !== null) setTimeout(() => document.getElementById("next").click(), AUTO);
</script>
</body></html>
"""


def chat_page(models: list[str]) -> str:
    return _CHAT.replace("__CONFIG__", json.dumps({"models": models}))


def signin_page(continue_url: str, auto_ms: int | None) -> str:
    safe = continue_url.replace('"', "").replace("<", "")
    return _SIGNIN.replace("__CONTINUE__", safe).replace("__AUTO__", json.dumps(auto_ms))
