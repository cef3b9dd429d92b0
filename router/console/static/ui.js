// Shared pieces of the console: the management API call, DOM builders, formats, a bar chart.
// No library, no CDN. Every value goes into the page as text, never as HTML.

export const KEY = "cliproxy-management-key"; // sessionStorage: this tab only (as /status)
const SVG = "http://www.w3.org/2000/svg";
export const $ = (id) => document.getElementById(id);

// An error of the management API, in words: the server's message, else the status.
export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

const listeners = new Set();
export const onSignedOut = (fn) => listeners.add(fn);

// Calls the management API with the key in a header (never a cookie: no CSRF).
// A refused key (401, 403, 429) signs the page out with the reason.
export async function api(path, { method = "GET", body, raw = false } = {}) {
  const key = sessionStorage.getItem(KEY);
  if (!key) throw new ApiError(401, "Not signed in");
  const headers = { Authorization: `Bearer ${key}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let resp;
  try {
    resp = await fetch(path, {
      method, headers, cache: "no-store", credentials: "omit",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    throw new ApiError(0, `The router did not answer (${err.message || err})`);
  }
  if (raw && resp.ok) return resp;
  let data = null;
  const text = await resp.text();
  try { data = text ? JSON.parse(text) : null; } catch (_) { data = null; }
  if (!resp.ok) {
    const said = data && (typeof data.error === "string" ? data.error : data.error && data.error.message);
    const message = said || `${method} ${path} answered ${resp.status}`;
    const err = new ApiError(resp.status, message, data);
    const management = ["/v1/auth/", "/v1/console/", "/v1/keys", "/v1/usage", "/status.json"].some((p) => path.startsWith(p));
    if (management && [401, 403, 429].includes(resp.status) && !/upstream/i.test(message)) {
      listeners.forEach((fn) => fn(message));
    }
    throw err;
  }
  return data;
}

// A missing route answers 404 "no such endpoint" (or 405): the feature is not in this router.
export const missingRoute = (err) =>
  err instanceof ApiError && (err.status === 405 || (err.status === 404 && /no such endpoint/i.test(err.message)));

export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else if (k.startsWith("on") && typeof v === "function") node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

export function svg(tag, attrs) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  return node;
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined) return "-";
  let s = Math.max(0, Math.round(seconds));
  const d = Math.floor(s / 86400); s -= d * 86400;
  const h = Math.floor(s / 3600); s -= h * 3600;
  const m = Math.floor(s / 60); s -= m * 60;
  if (d) return `${d}d ${h}h`;
  if (h) return `${h}h ${m}m`;
  if (m) return `${m}m ${s}s`;
  return `${s}s`;
}

export const compact = (n) => {
  n = Number(n) || 0;
  if (n >= 1e9) return (n / 1e9).toFixed(1) + "G";
  if (n >= 1e6) return (n / 1e6).toFixed(1) + "M";
  if (n >= 1e4) return (n / 1e3).toFixed(0) + "k";
  if (n >= 1e3) return (n / 1e3).toFixed(1) + "k";
  return String(n);
};

export const clock = (ts) => new Date(ts * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
export const when = (ts) => new Date(ts * 1000).toLocaleString([], { dateStyle: "short", timeStyle: "short" });

const badgeClass = {
  RUNNING: "ok", STARTING: "info", STOPPED: "off", BACKOFF: "bad", FATAL: "bad", EXITED: "bad",
  ready: "ok", active: "ok", cooling: "warn", broken: "bad", refreshing: "info", disabled: "bad",
  login_required: "bad", refresh_failed: "bad", unreadable: "bad", revoked: "off", expired: "off",
  open: "bad", half_open: "warn", closed: "ok", file: "info", env: "warn", default: "off", generated: "ok",
  warning: "warn", error: "bad", critical: "bad", info: "info",
};
export const badge = (text) => el("span", { class: `badge ${badgeClass[text] || "info"}` }, String(text).replace("_", " "));

// Messages after an action, read out by screen readers (role=status) or as alerts.
export function say(box, message, kind = "ok") {
  box.replaceChildren(message ? el("p", { class: kind === "ok" ? "note ok" : "note error", role: kind === "ok" ? "status" : "alert" }, message) : "");
}

// A yes/no question in a modal <dialog> (keyboard: Tab between buttons, Escape says no).
export function confirmDialog(question, yes = "Delete") {
  return new Promise((resolve) => {
    const dlg = $("confirm");
    $("confirm-text").textContent = question;
    $("confirm-yes").textContent = yes;
    const done = (answer) => { dlg.close(); resolve(answer); };
    $("confirm-yes").onclick = () => done(true);
    $("confirm-no").onclick = () => done(false);
    dlg.oncancel = (ev) => { ev.preventDefault(); done(false); };
    dlg.showModal();
    $("confirm-no").focus();
  });
}

// Bars over labelled slots; each series stacked. rows: [{label, values: {series: n}}].
export function barChart(box, rows, series, { label = "", legend = true, title = (r, s, v) => `${r.label} ${s}: ${v}` } = {}) {
  const W = 560, H = 170, L = 40, B = 20, T = 8;
  const totals = rows.map((r) => series.reduce((s, k) => s + (Number(r.values[k]) || 0), 0));
  const max = Math.max(1, ...totals);
  const bw = (W - L) / Math.max(1, rows.length);
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": label });
  root.append(svg("line", { class: "axis", x1: L, x2: W, y1: H - B, y2: H - B }));
  root.append(svg("line", { class: "axis", x1: L, x2: W, y1: T, y2: T }));
  const top = svg("text", { x: L - 4, y: T + 4, "text-anchor": "end" }); top.textContent = compact(max);
  const zero = svg("text", { x: L - 4, y: H - B + 3, "text-anchor": "end" }); zero.textContent = "0";
  root.append(top, zero);
  let bars = 0;
  const every = Math.max(1, Math.ceil(rows.length / 8));
  rows.forEach((r, i) => {
    let y = H - B;
    series.forEach((k, j) => {
      const v = Number(r.values[k]) || 0;
      if (!v) return;
      const height = Math.max(1, (v / max) * (H - B - T));
      y -= height;
      const rect = svg("rect", { class: `s${j % 8}`, x: L + i * bw + 1, y, width: Math.max(1, bw - 2), height });
      const tip = svg("title", {}); tip.textContent = title(r, k, v);
      rect.append(tip); root.append(rect); bars += 1;
    });
    if (i % every === 0) {
      const t = svg("text", { x: L + i * bw + bw / 2, y: H - 5, "text-anchor": "middle" });
      t.textContent = r.label;
      root.append(t);
    }
  });
  const parts = [root];
  if (legend && series.length > 1) {
    parts.push(el("ul", { class: "legend-list" }, series.map((s, j) => el("li", {}, el("i", { class: `sw s${j % 8}`, "aria-hidden": "true" }), s))));
  }
  box.replaceChildren(...parts);
  box.dataset.bars = String(bars);
  box.dataset.total = String(totals.reduce((a, b) => a + b, 0));
}

// A table whose rows come from objects; wide tables scroll inside their box on a phone.
export function table(columns, rows, { caption = "", rowAttrs = () => ({}) } = {}) {
  return el("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": caption || "table" },
    el("table", {},
      caption ? el("caption", { class: "sr-only" }, caption) : null,
      el("thead", {}, el("tr", {}, columns.map((c) => el("th", { scope: "col", class: c.num ? "num" : null }, c.title)))),
      el("tbody", {}, rows.map((r) => el("tr", rowAttrs(r), columns.map((c) => {
        const v = c.value(r);
        return el("td", { class: c.num ? "num" : c.mono ? "mono" : null }, v === null || v === undefined ? "" : v);
      }))))));
}
