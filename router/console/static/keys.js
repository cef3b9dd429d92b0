// Client keys: the keys clients present to use the proxy.
//
// Managed keys (/v1/keys: create, revoke, limits) light up when the router offers that
// API (/v1/console/info says so in features.keys); until then the section shows how many
// keys server.api_keys sets. Everything that knows the /v1/keys wire is in KEYS_API below,
// so finishing this section means checking those few lines against the endpoint.
import { $, api, el, badge, when, say, confirmDialog, table, compact, missingRoute } from "./ui.js";

export const KEYS_API = {
  list: () => api("/v1/keys").then((r) => r.keys || r.data || []),
  // Answers the record and, once, the key itself ("key").
  create: (fields) => api("/v1/keys", { method: "POST", body: fields }),
  revoke: async (id) => {
    try {
      return await api(`/v1/keys/${encodeURIComponent(id)}`, { method: "DELETE" });
    } catch (err) {
      if (!missingRoute(err)) throw err;
      return api(`/v1/keys/${encodeURIComponent(id)}/revoke`, { method: "POST" });
    }
  },
  // Usage records name a key by its label (client_key): a managed key's name, a
  // server.api_keys key's "config:<fingerprint>" (its id in the list), or "local".
  label: (k) => (k.source === "config" ? k.id : k.name),
  LIMITS: [
    ["requests_per_minute", "Requests per minute"],
    ["tokens_per_day", "Tokens per day"],
    ["monthly_token_budget", "Tokens per month"],
  ],
};

function limits(k) {
  const parts = KEYS_API.LIMITS.filter(([f]) => k[f] !== null && k[f] !== undefined).map(([f, t]) => `${t.toLowerCase()} ${compact(k[f])}`);
  if (k.models && k.models.length) parts.unshift(`models ${k.models.join(", ")}`);
  return parts.join(" · ") || "no limits";
}

function createForm() {
  const field = (id, label, attrs = {}) => el("label", { for: id }, label, el("input", { id, name: id, autocomplete: "off", ...attrs }));
  return el("form", { id: "key-form", class: "adder", "aria-labelledby": "h-new-key" },
    el("h3", { id: "h-new-key" }, "New key"),
    field("key-name", "Name", { required: true, placeholder: "laptop" }),
    field("key-models", "Models (globs, comma-separated; empty: all)", { placeholder: "gpt-*, claude-*" }),
    KEYS_API.LIMITS.map(([f, t]) => field(`key-${f}`, `${t} (empty: no limit)`, { type: "number", min: "1", inputmode: "numeric" })),
    el("button", { type: "submit" }, "Create key"),
    el("div", { id: "key-created", "aria-live": "polite" }));
}

// Times come as ISO 8601 text (or Unix seconds).
const at = (t) => (t === null || t === undefined ? "" : typeof t === "number" ? when(t) : new Date(t).toLocaleString([], { dateStyle: "short", timeStyle: "short" }));

async function managed(refresh, used) {
  const keys = await KEYS_API.list();
  const now = Date.now() / 1000;
  const rows = keys.map((k) => ({ ...k, state: k.state || (k.revoked_at ? "revoked" : k.expires_at && k.expires_at <= now ? "expired" : "active") }));
  const usage = (k) => {
    const u = used.get(KEYS_API.label(k));
    return u ? `${u.requests} req · ${compact((u.tokens_in || 0) + (u.tokens_out || 0))} tok` : "-";
  };
  const list = rows.length ? table([
    { title: "Name", value: (k) => k.name, mono: true },
    { title: "Key", value: (k) => (k.source === "config" ? "server.api_keys" : `${k.prefix}…`), mono: true },
    { title: "State", value: (k) => badge(k.state) },
    { title: "Limits", value: limits },
    { title: "Used, 30 days", value: usage },
    { title: "Created", value: (k) => at(k.created_at) },
    { title: "", value: (k) => (k.state === "revoked" || k.source === "config" ? "" : el("button", { type: "button", class: "small danger", "data-revoke": k.id, "data-name": k.name }, "Revoke")) },
  ], rows, { caption: "client keys", rowAttrs: (k) => ({ "data-key": k.name, "data-state": k.state }) }) : el("p", { class: "muted" }, "No keys yet.");
  const form = createForm();
  form.addEventListener("submit", (ev) => { ev.preventDefault(); create(form, refresh); });
  $("keys").replaceChildren(list, form);
}

async function create(form, refresh) {
  const out = $("key-created");
  const fields = { name: $("key-name").value.trim() };
  const models = $("key-models").value.split(",").map((m) => m.trim()).filter(Boolean);
  if (models.length) fields.models = models;
  for (const [f] of KEYS_API.LIMITS) {
    const v = $(`key-${f}`).value;
    if (v) fields[f] = Number(v);
  }
  try {
    const made = await KEYS_API.create(fields);
    const secret = made.key;
    await refresh();
    const box = $("key-created"); // redrawn by refresh
    box.replaceChildren(el("div", { class: "note ok", role: "status" },
      el("p", {}, `Key ${made.name || fields.name} created. Copy it now: it is shown once and never again.`),
      el("output", { id: "new-key", class: "mono secret-once", tabindex: "0" }, secret),
      el("button", { type: "button", class: "small", onclick: () => navigator.clipboard?.writeText(secret) }, "Copy")));
  } catch (err) {
    say(out, `Could not create the key: ${err.message}`, "error");
  }
}

async function keyUsage() {
  const from = Math.floor(Date.now() / 1000) - 30 * 86400;
  const box = $("key-usage");
  try {
    const data = await api(`/v1/usage?from=${from}&group_by=client_key`);
    const rows = data.rows || [];
    const used = new Map(rows.map((r) => [r.client_key, r]));
    box.replaceChildren(rows.length ? table([
      { title: "Key", value: (r) => r.client_key, mono: true },
      { title: "Requests", value: (r) => r.requests, num: true },
      { title: "Failed", value: (r) => r.errors, num: true },
      { title: "Tokens in", value: (r) => compact(r.tokens_in), num: true },
      { title: "Tokens out", value: (r) => compact(r.tokens_out), num: true },
    ], rows, { caption: "usage per key" }) : el("p", { class: "muted" }, "No requests in the last 30 days."));
    return used;
  } catch (err) {
    box.replaceChildren(el("p", { class: "error" }, err.message));
    return new Map();
  }
}

export async function load(context, refresh) {
  const info = await api("/v1/console/info"); // fresh: a reload may have changed the keys
  context.info = info;
  const n = info.api_keys;
  const configured = el("p", { id: "api-keys-count" },
    `${n} client key${n === 1 ? "" : "s"} set in server.api_keys (config.yaml).`,
    n ? "" : " None: only clients on this machine (loopback) are served.");
  const used = await keyUsage();
  if (info.features && info.features.keys) {
    try {
      await managed(refresh || (() => load(context)), used);
      $("keys").prepend(configured);
    } catch (err) {
      $("keys").replaceChildren(configured, el("p", { class: "error" }, `Managed keys: ${err.message}`));
    }
  } else {
    $("keys").replaceChildren(configured,
      el("p", { class: "muted" }, "Managed keys (create, revoke, limits per key) appear here once this router offers them (/v1/keys)."));
  }
}

export function setup(context, refresh) {
  $("keys").addEventListener("click", async (ev) => {
    const button = ev.target.closest("button[data-revoke]");
    if (!button) return;
    if (!(await confirmDialog(`Revoke the key ${button.dataset.name}? Clients using it get 401 from now on.`, "Revoke"))) return;
    try {
      await KEYS_API.revoke(button.dataset.revoke);
      say($("keys-message"), `Revoked ${button.dataset.name}.`);
      await refresh();
    } catch (err) {
      say($("keys-message"), `Could not revoke: ${err.message}`, "error");
    }
  });
}
