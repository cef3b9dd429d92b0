"""The script injected into the page for one request.

A ``MutationObserver`` on the document watches the newest model turn as
it renders and calls the exposed binding ``__aistudioDelta`` with what is
new: text deltas, thinking deltas, then ``done`` (stop button gone, Run
enabled again) or ``error`` (a toast or callout that was not there before).
Deltas are append-only: if the page rewrites text it already showed, the
rewrite is not sent (a stream cannot take bytes back).
"""

from __future__ import annotations

__all__ = ["BINDING", "CHECK", "OBSERVER_JS"]

BINDING = "__aistudioDelta"
CHECK = "() => { if (window.__aistudioCheck) window.__aistudioCheck(); }"

OBSERVER_JS = r"""
(args) => {
  const sel = args.sel;
  const rid = args.rid;
  const w = window;
  if (w.__aistudioObserver) w.__aistudioObserver.disconnect();
  const one = (s) => document.querySelector(s);
  const all = (s) => Array.from(document.querySelectorAll(s));
  const errSel = sel.error_toast + ", " + sel.error_callout;
  const staleErrors = new Set(all(errSel));
  const baseline = all(sel.answer).length;
  let sentText = "", sentThink = "", started = false, done = false;
  const topLevel = (nodes) => nodes.filter((n) => !nodes.some((o) => o !== n && o.contains(n)));
  const textOf = (turn) => topLevel(
      Array.from(turn.querySelectorAll(sel.answer_text)).filter((n) => !n.closest(sel.thinking))
    ).map((n) => n.textContent).join("");
  const thinkOf = (turn) => topLevel(Array.from(turn.querySelectorAll(sel.thinking)))
    .map((n) => n.textContent).join("");
  const check = () => {
    if (done) return;
    const events = [];
    const turns = all(sel.answer);
    if (turns.length > baseline) {
      started = true;
      const turn = turns[turns.length - 1];
      const th = thinkOf(turn);
      if (th.length > sentThink.length && th.startsWith(sentThink)) {
        events.push({kind: "thinking", text: th.slice(sentThink.length)});
        sentThink = th;
      }
      const tx = textOf(turn);
      if (tx.length > sentText.length && tx.startsWith(sentText)) {
        events.push({kind: "text", text: tx.slice(sentText.length)});
        sentText = tx;
      }
    }
    const stopButton = one(sel.stop);
    if (stopButton) started = true;
    const err = all(errSel).find((n) => !staleErrors.has(n) && n.textContent.trim());
    if (err) {
      events.push({kind: "error", text: err.textContent.trim()});
      done = true;
    } else if (started && !stopButton) {
      const run = one(sel.run);
      if (run && !run.disabled && run.getAttribute("aria-disabled") !== "true") {
        events.push({kind: "done", text: ""});
        done = true;
      }
    }
    if (done) obs.disconnect();
    if (events.length) w.__aistudioDelta({rid: rid, events: events});
  };
  const obs = new MutationObserver(check);
  obs.observe(document.documentElement,
    {subtree: true, childList: true, characterData: true, attributes: true});
  w.__aistudioObserver = obs;
  w.__aistudioCheck = check;
  return baseline;
}
"""
