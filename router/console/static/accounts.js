// Accounts: every provider's credentials with their state, rest, breaker and plan quota,
// the actions on them, and the ways to add an account. All through the management API:
// /status.json (what routing sees), /v1/auth/credentials (stored sign-ins) and their actions.
import { $, api, el, badge, duration, when, say, confirmDialog } from "./ui.js";

let flow = null; // the sign-in in progress: {state, url, provider}

// A subscription's plan windows as last reported: "5h 25% (resets …) · week 50% (…)".
function quota(q) {
  if (!q) return null;
  const part = (label, w) => {
    if (!w) return null;
    const resets = w.resets_at ? `, resets ${when(w.resets_at)}` : "";
    return el("span", { class: `quota ${w.used_percent >= 80 ? "error" : "muted"}`, "data-window": label },
      `${label} ${Math.round(w.used_percent)}% used${resets}`);
  };
  const parts = [part("5h", q.five_hour), part("week", q.weekly)].filter(Boolean);
  if (q.plan) parts.unshift(el("span", { class: "muted" }, `plan ${q.plan}`));
  return parts.length ? el("span", { class: "quotas", "data-status": q.status || "" }, parts) : null;
}

// What keeps a credential out of rotation, in words.
function rest(v) {
  const bits = [];
  if (v.state === "cooling" && v.wait_s > 0) bits.push(`cooldown ${duration(v.wait_s)}`);
  if (v.state === "disabled" && v.wait_s > 0) bits.push(`back in ${duration(v.wait_s)}`);
  if (v.breaker && v.breaker !== "closed") bits.push(`breaker ${v.breaker.replace("_", "-")}` + (v.wait_s > 0 ? `, probe in ${duration(v.wait_s)}` : ""));
  if (v.models) for (const [m, s] of Object.entries(v.models)) bits.push(`${m} rests ${duration(s)}`);
  return bits.length ? el("span", { class: "cooldown", "data-seconds": v.wait_s }, bits.join(" · ")) : null;
}

function actions(v, stored) {
  const out = [];
  if (stored) {
    const off = stored.state === "disabled" || stored.state === "refresh_failed";
    out.push(el("button", { type: "button", class: "small", "data-action": off ? "enable" : "disable", "data-name": stored.name },
      off ? "Enable" : "Disable"));
    out.push(el("button", { type: "button", class: "small danger", "data-action": "delete", "data-name": stored.name }, "Delete"));
  }
  const resting = v && (v.wait_s > 0 || (v.breaker && v.breaker !== "closed") || v.models || v.state === "cooling" || v.state === "broken");
  if (resting && !(stored && stored.state === "disabled")) {
    out.push(el("button", { type: "button", class: "small", "data-action": "reset", "data-id": v.id }, "Reset cooldown"));
  }
  return out.length ? el("span", { class: "actions" }, out) : null;
}

function row(v, stored) {
  const state = v ? v.state : stored.state;
  const bits = [badge(state), el("span", { class: "mono" }, v ? v.id : stored.name)];
  const account = (v && v.account) || (stored && stored.account);
  if (account) bits.push(el("span", { class: "muted" }, account));
  if (v) bits.push(rest(v));
  const reason = (v && v.reason) || (stored && stored.reason);
  if (reason) bits.push(el("span", { class: "muted" }, reason));
  const expires = (v && v.expires_at) || (stored && stored.expires_at);
  if (expires) bits.push(el("span", { class: "muted" }, `token expires ${new Date(expires).toLocaleString()}`));
  const problem = (v && v.refresh_error) || (stored && stored.last_error);
  if (problem) bits.push(el("span", { class: "error" }, `refresh: ${problem}`));
  bits.push(quota((v && v.quota) || (stored && stored.quota)));
  bits.push(actions(v, stored));
  return el("li", { class: "cred", "data-credential": v ? v.id : stored.name, "data-name": stored ? stored.name : null, "data-state": state }, bits);
}

function draw(providers, stored) {
  const byName = new Map(stored.map((s) => [s.name, s]));
  const used = new Set();
  const items = [];
  const idle = [];
  for (const p of providers) {
    if (!p.enabled) continue;
    if (!p.credentials.length) { idle.push(p.name); continue; }
    const rows = p.credentials.map((v) => {
      const name = v.id.includes("/") ? v.id.split("/").slice(1).join("/") : "";
      const rec = byName.get(name);
      if (rec) used.add(name);
      return row(v, rec);
    });
    items.push(el("div", { class: "provider", "data-provider": p.name },
      el("div", { class: "row-item" }, el("strong", {}, p.name), el("span", { class: "muted" }, p.kind),
        p.servable ? null : el("span", { class: "badge off" }, "not served")),
      el("ul", { class: "plain creds" }, rows)));
  }
  const orphans = stored.filter((s) => !used.has(s.name));
  if (orphans.length) {
    items.push(el("div", { class: "provider", "data-provider": "" },
      el("div", { class: "row-item" }, el("strong", {}, "Stored sign-ins no provider serves"),
        el("span", { class: "muted" }, "add a provider of their kind to config.yaml")),
      el("ul", { class: "plain creds" }, orphans.map((s) => row(null, s)))));
  }
  if (!items.length) items.push(el("p", { class: "muted" }, "No provider has a credential yet: add an account below."));
  if (idle.length) items.push(el("p", { class: "muted" }, `No credentials: ${idle.join(", ")}`));
  $("providers").replaceChildren(...items);
}

export async function load() {
  const [status, creds] = await Promise.all([api("/status.json"), api("/v1/auth/credentials")]);
  draw(status.providers || [], creds.credentials || []);
}

// -- actions ----------------------------------------------------------------------

async function act(button, refresh) {
  const box = $("accounts-message");
  const { action, name, id } = button.dataset;
  const path = (n) => `/v1/auth/credentials/${encodeURIComponent(n)}`;
  try {
    if (action === "delete") {
      if (!(await confirmDialog(`Delete ${name}? The sign-in is removed from the store; signing in again brings it back.`))) return;
      await api(path(name), { method: "DELETE" });
      say(box, `Deleted ${name}.`);
    } else if (action === "enable" || action === "disable") {
      await api(`${path(name)}/${action}`, { method: "POST" });
      say(box, `${action === "enable" ? "Enabled" : "Disabled"} ${name}.`);
    } else if (action === "reset") {
      await resetCooldown(id);
      say(box, `Reset ${id}: back in rotation.`);
    }
  } catch (err) {
    say(box, err.message, "error");
    return;
  }
  await refresh();
}

// Clears the credential's cooldowns and breaker in every worker (the management API's reset).
async function resetCooldown(id) {
  try {
    return await api(`/v1/auth/credentials/${encodeURIComponent(id)}/reset`, { method: "POST" });
  } catch (err) {
    throw new Error(`Could not reset ${id}: ${err.message}`);
  }
}

async function startLogin(refresh) {
  const box = $("login-message");
  const provider = $("login-provider").value;
  try {
    flow = await api("/v1/auth/login", { method: "POST", body: { provider, mode: "paste" } });
  } catch (err) {
    say(box, `Could not start the sign-in: ${err.message}`, "error");
    return;
  }
  flow.provider = provider;
  $("login-link").href = flow.url;
  $("login-link").textContent = provider === "claude" ? "Claude's sign-in page" : "ChatGPT's sign-in page";
  $("login-step").hidden = false;
  $("login-code").value = "";
  say(box, "Sign-in started: open the page, approve, then paste what you get back.");
  $("login-link").focus();
}

async function finishLogin(refresh) {
  const box = $("login-message");
  const code = $("login-code").value.trim();
  if (!flow) return say(box, "Start a sign-in first.", "error");
  if (!code) return say(box, "Paste the code (CODE#STATE) or the address you landed on.", "error");
  try {
    const done = await api(`/v1/auth/login/${encodeURIComponent(flow.state)}/code`, { method: "POST", body: { code } });
    say(box, `Signed in as ${done.account}: saved as ${done.name}.`);
    $("login-step").hidden = true;
    $("login-code").value = "";
    flow = null;
    await refresh();
  } catch (err) {
    say(box, `Sign-in failed: ${err.message}`, "error");
  }
}

async function submit(form, box, work, refresh) {
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  try {
    say(box, await work());
    form.reset();
    await refresh();
  } catch (err) {
    say(box, err.message, "error");
  } finally {
    button.disabled = false;
  }
}

export function setup(context, refresh) {
  $("providers").addEventListener("click", (ev) => {
    const button = ev.target.closest("button[data-action]");
    if (button) act(button, refresh);
  });
  $("login-form").addEventListener("submit", (ev) => { ev.preventDefault(); startLogin(refresh); });
  $("login-finish").addEventListener("click", () => finishLogin(refresh));
  $("login-code").addEventListener("keydown", (ev) => { if (ev.key === "Enter") { ev.preventDefault(); finishLogin(refresh); } });
  $("cookie-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    submit(ev.target, $("cookie-message"), async () => {
      const rec = await api("/v1/auth/ctonew", { method: "POST", body: { cookie: $("cookie").value.trim() } });
      return `Saved the cto.new account ${rec.account} as ${rec.name}.`;
    }, refresh);
  });
  $("aistudio-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const profile = $("aistudio-profile").value.trim();
    say($("aistudio-message"), `Asking the aistudio service to open a browser for ${profile}…`);
    submit(ev.target, $("aistudio-message"), async () => {
      const r = await api("/v1/auth/aistudio/login", { method: "POST", body: { profile } });
      return r.ok === false ? Promise.reject(new Error(r.error || "the sign-in failed")) : `Profile ${profile} signed in.`;
    }, refresh);
  });
  $("upload-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const file = $("token-file").files[0];
    submit(ev.target, $("upload-message"), async () => {
      if (!file) throw new Error("Choose a token file first.");
      if (file.size > 256 * 1024) throw new Error("That file is too large for a token file (256 KB at most).");
      const rec = await api("/v1/auth/credentials", { method: "POST", body: { filename: file.name, content: await file.text() } });
      return `Stored ${rec.name} (${rec.account}).`;
    }, refresh);
  });
}
