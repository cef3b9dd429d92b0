// Config: the running config, every value with where it came from (file, environment,
// default, generated), secrets masked by the router; the last reload's result; a reload
// button (what SIGHUP does) that names each bad key.
import { $, api, el, badge, when, clock, table } from "./ui.js";

let entries = [];

function origin(e) {
  if (e.source === "env") {
    const vars = (e.env || []).join(", ");
    return el("span", {}, badge("env"), " ", el("code", {}, vars), e.fallback ? el("span", { class: "muted" }, " unset: the file's default") : "");
  }
  if (e.source === "generated") return el("span", {}, badge("generated"), " ", el("span", { class: "muted" }, e.file || ""));
  return badge(e.source);
}

const text = (v) => (typeof v === "string" ? v : JSON.stringify(v));

function drawTable() {
  const needle = $("config-filter").value.trim().toLowerCase();
  const shown = needle ? entries.filter((e) => e.key.toLowerCase().includes(needle) || text(e.value).toLowerCase().includes(needle)) : entries;
  $("config-table").replaceChildren(table([
    { title: "Key", value: (e) => e.key, mono: true },
    { title: "Value", value: (e) => text(e.value), mono: true },
    { title: "From", value: origin },
  ], shown, { caption: "config values", rowAttrs: (e) => ({ "data-key": e.key, "data-source": e.source }) }));
}

function reloadResult(r, box) {
  if (!r) return box.replaceChildren(el("p", { class: "muted" }, "No reload since this router started."));
  const head = `${r.ok ? "Reloaded" : "Reload failed"} at ${clock(r.at)} (${r.trigger === "console" ? "from this console" : r.trigger === "file" ? "the file changed" : "SIGHUP"})`;
  if (r.ok) {
    box.replaceChildren(el("div", { class: "note ok", role: "status", "data-ok": "true" },
      el("p", {}, `${head}: ${r.rules} rules, providers served: ${r.providers.join(", ") || "none"}.`),
      r.warnings.length ? el("ul", {}, r.warnings.map((w) => el("li", {}, w))) : null));
  } else {
    box.replaceChildren(el("div", { class: "note error", role: "alert", "data-ok": "false" },
      el("p", {}, `${head}; the running config is kept. Fix these and reload again:`),
      el("ul", { class: "reload-errors" }, r.errors.map((e) => el("li", { "data-key": e.key }, e.key ? el("code", {}, e.key) : "", e.key ? ": " : "", e.message)))));
  }
}

export async function load() {
  const data = await api("/v1/console/config");
  entries = data.entries || [];
  $("config-head").replaceChildren(el("p", { class: "muted" },
    `${data.source || "no file"}, loaded ${when(data.loaded_at)}`,
    data.changed_since_load ? el("strong", { class: "error" }, " · the file changed since: reload to apply it") : ""),
    data.warnings && data.warnings.length ? el("ul", { class: "muted" }, data.warnings.map((w) => el("li", {}, w))) : "");
  if (!$("reload-result").dataset.fresh) reloadResult(data.last_reload, $("reload-result"));
  drawTable();
}

export function setup(context, refresh) {
  $("config-filter").addEventListener("input", drawTable);
  $("reload").addEventListener("click", async () => {
    const box = $("reload-result");
    $("reload").disabled = true;
    try {
      reloadResult(await api("/v1/console/reload", { method: "POST" }), box);
    } catch (err) {
      if (err.body && err.body.errors) reloadResult(err.body, box);
      else box.replaceChildren(el("p", { class: "note error", role: "alert" }, err.message));
    } finally {
      $("reload").disabled = false;
    }
    box.dataset.fresh = "1";
    await refresh();
    delete box.dataset.fresh;
  });
}
