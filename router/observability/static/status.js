// The status page: signs in with the management key, then draws /status.json.
// No library, no CDN. Every value goes into the page as text (never as HTML).
import { $, KEY, api, badge, clock, duration, el, onSignedOut } from "/console/ui.js";
import { day, programs, relay } from "/console/overview.js";

// The status page draws what the console's Overview draws, with the console's helpers
// (one copy of each), and adds the credentials and the captured requests.
const REFRESH_MS = 10000;
let timer = null;

// -- sections -------------------------------------------------------------------

function supervisor(sup) {
  programs(sup);
  if (sup && sup.running && sup.processes && sup.processes.length) {
    $("summary").textContent = `${sup.processes.length} processes, ${sup.healthy ? "healthy" : "UNHEALTHY"}`;
  }
}

function credential(c) {
  const bits = [badge(c.state), el("span", { class: "mono" }, c.id)];
  if (c.state === "cooling" || c.state === "disabled") {
    if (c.wait_s > 0) bits.push(el("span", { class: "cooldown", "data-seconds": c.wait_s }, `${c.state === "cooling" ? "cooldown" : "back in"} ${duration(c.wait_s)}`));
  }
  if (c.reason) bits.push(el("span", { class: "muted" }, c.reason));
  if (c.account) bits.push(el("span", { class: "muted" }, c.account));
  if (c.expires_at) bits.push(el("span", { class: "muted" }, `expires ${new Date(c.expires_at).toLocaleString()}`));
  if (c.refresh_error) bits.push(el("span", { class: "error" }, `refresh: ${c.refresh_error}`));
  if (c.quota) bits.push(quota(c.quota));
  return el("li", { class: "cred", "data-credential": c.id, "data-state": c.state }, bits);
}

// A subscription's plan windows as last reported: "5h 25% (resets 14:00) · week 50% (…)".
function quota(q) {
  const part = (label, w) => {
    if (!w) return null;
    const when = w.resets_at ? ` (resets ${new Date(w.resets_at * 1000).toLocaleString()})` : "";
    const warn = w.used_percent >= 80 ? "error" : "muted";
    return el("span", { class: `quota ${warn}`, "data-window": label }, `${label} ${Math.round(w.used_percent)}%${when}`);
  };
  const parts = [part("5h", q.five_hour), part("week", q.weekly)].filter(Boolean);
  if (q.plan) parts.unshift(el("span", { class: "muted" }, q.plan));
  return el("span", { class: "quotas", "data-status": q.status || "" }, parts);
}

function providers(list) {
  const served = list.filter((p) => p.enabled && (p.servable || p.credentials.length));
  const idle = list.filter((p) => p.enabled && !p.servable && !p.credentials.length).map((p) => p.name);
  const items = served.map((p) => el("div", { class: "provider", "data-provider": p.name },
    el("div", { class: "provider-head" },
      el("strong", {}, p.name), el("span", { class: "muted" }, p.kind),
      p.servable ? null : el("span", { class: "badge off" }, "not served")),
    p.credentials.length
      ? el("ul", { class: "creds" }, p.credentials.map(credential))
      : el("p", { class: "muted" }, "no credentials")));
  if (!items.length) items.push(el("p", { class: "muted" }, "No provider has a credential."));
  if (idle.length) items.push(el("p", { class: "muted idle" }, `Not served (no credentials): ${idle.join(", ")}`));
  $("providers").replaceChildren(...items);
}

function errors(list) {
  if (!list.length) {
    $("errors").replaceChildren(el("p", { class: "muted" }, "No failed requests recorded."));
    return;
  }
  const items = list.map((e) => el("li", { class: "err", "data-request-id": e.request_id },
    el("div", { class: "err-head" },
      el("span", { class: "badge bad" }, e.status),
      el("span", {}, clock(e.ts)),
      el("strong", {}, e.model),
      el("span", { class: "muted" }, e.credential || e.provider || "no provider")),
    el("div", { class: "mono rid" }, e.request_id,
      e.capture ? el("a", { class: "capture-link", href: `/v1/requests/${encodeURIComponent(e.request_id)}`, "data-request-id": e.request_id }, "capture") : null),
    e.error ? el("div", { class: "err-msg", title: e.error }, e.error) : null));
  $("errors").replaceChildren(el("ul", { class: "errs" }, items));
}

// A captured request (logging.capture), fetched with the key and shown under its error.
async function showCapture(link) {
  const item = link.closest("li");
  const old = item.querySelector("pre.capture");
  if (old) { old.remove(); return; }
  const key = sessionStorage.getItem(KEY);
  const resp = await fetch(link.getAttribute("href"), { headers: { Authorization: `Bearer ${key}` }, cache: "no-store" });
  const text = resp.ok ? JSON.stringify(await resp.json(), null, 2) : `capture unavailable (${resp.status})`;
  item.append(el("pre", { class: "capture mono" }, text));
}

// -- sign-in and refresh ----------------------------------------------------------

function signedOut(message) {
  sessionStorage.removeItem(KEY);
  clearTimeout(timer);
  $("dashboard").hidden = true;
  $("signout").hidden = true;
  $("signin").hidden = false;
  $("summary").textContent = "";
  $("signin-error").textContent = message || "";
  $("key").focus();
}

async function load() {
  if (!sessionStorage.getItem(KEY)) return signedOut("");
  clearTimeout(timer);
  let data;
  try {
    data = await api("/status.json");
  } catch (err) {
    if ([401, 403, 429].includes(err.status)) return signedOut(err.message);
    $("updated").textContent = err.status ? `status.json answered ${err.status}; retrying` : `${err.message}; retrying`;
    timer = setTimeout(load, REFRESH_MS);
    return;
  }
  $("signin").hidden = true;
  $("dashboard").hidden = false;
  $("signout").hidden = false;
  supervisor(data.supervisor);
  providers(data.providers || []);
  relay(data.relay || []);
  day(data.usage || {});
  errors(data.errors || []);
  if (!data.supervisor) $("summary").textContent = `router pid ${data.router.pid}, up ${duration(data.now - data.router.started_at)}`;
  $("updated").textContent = `Updated ${clock(data.now)}; refreshes every ${REFRESH_MS / 1000} s`;
  document.body.dataset.loaded = String(data.now);
  timer = setTimeout(load, REFRESH_MS);
}

document.addEventListener("DOMContentLoaded", () => {
  onSignedOut(signedOut);
  $("signin-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const key = $("key").value.trim();
    if (!key) return;
    sessionStorage.setItem(KEY, key);
    $("key").value = "";
    load();
  });
  $("signout").addEventListener("click", () => signedOut(""));
  $("errors").addEventListener("click", (ev) => {
    const link = ev.target.closest("a.capture-link");
    if (!link) return;
    ev.preventDefault();
    showCapture(link);
  });
  load();
});
