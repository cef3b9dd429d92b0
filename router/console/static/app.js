// The console: sign-in, tabs, refresh. Each tab is a module with load() (and setup()).
// The page holds no data until the key is given; the key stays in this tab's sessionStorage.
import { $, KEY, api, onSignedOut, clock } from "./ui.js";
import * as overview from "./overview.js";
import * as accounts from "./accounts.js";
import * as keys from "./keys.js";
import * as usage from "./usage.js";
import * as config from "./config.js";
import * as logs from "./logs.js";

const PANELS = { overview, accounts, keys, usage, config, logs };
const REFRESH_MS = 10000;
const LIVE = new Set(["overview", "accounts"]); // redrawn every REFRESH_MS
let current = null;
let timer = null;
export const context = { info: null };

function signedOut(message) {
  sessionStorage.removeItem(KEY);
  clearTimeout(timer);
  $("console").hidden = true;
  $("signout").hidden = true;
  $("signin").hidden = false;
  $("summary").textContent = "";
  $("signin-error").textContent = message || "";
  document.body.removeAttribute("data-ready");
  $("key").focus();
}

async function refresh() {
  clearTimeout(timer);
  if (!current) return;
  try {
    await PANELS[current].load(context, refresh);
    $("updated").textContent = `Updated ${clock(Date.now() / 1000)}` + (LIVE.has(current) ? `; refreshes every ${REFRESH_MS / 1000} s` : "");
  } catch (err) {
    $("updated").textContent = err.message;
  }
  document.body.dataset.loaded = `${current}:${Date.now()}`;
  if (LIVE.has(current) && sessionStorage.getItem(KEY)) timer = setTimeout(refresh, REFRESH_MS);
}

function show(name, { focus = false } = {}) {
  if (!PANELS[name]) name = "overview";
  current = name;
  for (const tab of document.querySelectorAll("[role=tab]")) {
    const on = tab.dataset.tab === name;
    tab.setAttribute("aria-selected", String(on));
    tab.tabIndex = on ? 0 : -1;
    $(tab.getAttribute("aria-controls")).hidden = !on;
    if (on && focus) tab.focus();
  }
  if (location.hash !== `#${name}`) history.replaceState(null, "", `#${name}`);
  document.body.dataset.tab = name;
  return refresh();
}

async function open() {
  try {
    context.info = await api("/v1/console/info");
  } catch (err) {
    if (sessionStorage.getItem(KEY)) signedOut(err.message);
    return;
  }
  $("signin").hidden = true;
  $("console").hidden = false;
  $("signout").hidden = false;
  const i = context.info;
  $("summary").textContent = `router pid ${i.pid}` + (i.workers > 1 ? ` (one of ${i.workers} workers)` : "");
  document.body.dataset.ready = "1";
  await show(location.hash.slice(1) || "overview");
}

document.addEventListener("DOMContentLoaded", () => {
  onSignedOut(signedOut);
  $("signin-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const key = $("key").value.trim();
    if (!key) return;
    sessionStorage.setItem(KEY, key);
    $("key").value = "";
    open();
  });
  $("signout").addEventListener("click", () => signedOut(""));
  const tabs = [...document.querySelectorAll("[role=tab]")];
  tabs.forEach((tab, i) => {
    tab.addEventListener("click", () => show(tab.dataset.tab));
    tab.addEventListener("keydown", (ev) => { // arrows move between tabs (WAI-ARIA tabs)
      const step = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 }[ev.key];
      if (ev.key === "Home" || ev.key === "End" || step) {
        ev.preventDefault();
        const next = ev.key === "Home" ? 0 : ev.key === "End" ? tabs.length - 1 : (i + step + tabs.length) % tabs.length;
        show(tabs[next].dataset.tab, { focus: true });
      }
    });
  });
  window.addEventListener("hashchange", () => { if (!$("console").hidden) show(location.hash.slice(1)); });
  for (const panel of Object.values(PANELS)) panel.setup?.(context, refresh);
  if (sessionStorage.getItem(KEY)) open();
  else signedOut("");
});
