// Logs: the last access lines and warnings/errors this router process kept in memory
// (/v1/console/logs), searchable by request id or any text. Lines are as they were
// written to the log file: secrets already masked.
import { $, api, el, badge, say, table } from "./ui.js";

const time = (ts) => (ts ? String(ts).replace("T", " ").slice(0, 19) : "");

function find(id) {
  $("logs-q").value = id;
  load();
}

const rid = (id) => (id ? el("a", { href: "#logs", class: "find mono", "data-find": id }, id) : "");

export async function load() {
  const q = $("logs-q").value.trim();
  const kind = $("logs-kind").value;
  const data = await api(`/v1/console/logs?n=200&kind=${kind}&q=${encodeURIComponent(q)}`);
  const access = data.access || [];
  const problems = data.problems || [];
  $("logs-access").replaceChildren(access.length ? table([
    { title: "Time (UTC)", value: (l) => time(l.ts) },
    { title: "Status", value: (l) => el("span", { class: `badge ${l.status >= 500 ? "bad" : l.status >= 400 ? "warn" : "ok"}` }, l.status) },
    { title: "Path", value: (l) => l.path, mono: true },
    { title: "Model", value: (l) => l.model || "" },
    { title: "Provider", value: (l) => l.credential || l.provider || "" },
    { title: "ms", value: (l) => l.ms, num: true },
    { title: "Request id", value: (l) => rid(l.request_id) },
    { title: "Error", value: (l) => l.error || "" },
  ], access, { caption: "access lines", rowAttrs: (l) => ({ "data-request-id": l.request_id || "" }) })
    : el("p", { class: "muted" }, q ? "No request line matches." : "No requests yet."));
  $("logs-problems").replaceChildren(problems.length ? el("ul", { class: "plain" }, problems.map((l) => el("li", { class: "err", "data-request-id": l.request_id || "" },
    el("div", { class: "row-item" }, badge(l.level || "warning"), el("span", {}, time(l.ts)), el("strong", {}, l.event || ""), rid(l.request_id)),
    l.error ? el("div", { class: "clamp" }, l.error) : null,
    l.exception ? el("pre", { class: "mono exception" }, String(l.exception).slice(0, 4000)) : null)))
    : el("p", { class: "muted" }, q ? "No warning or error matches." : "No warnings or errors."));
  const kept = data.kept || {};
  say($("logs-message"), `${access.length} request lines, ${problems.length} warnings, errors and request events` + (q ? ` matching "${q}"` : "") +
    ` (router pid ${data.pid} keeps its last ${kept.access} request lines and ${kept.problems} warnings in memory; the full log: ./scripts/logs.sh router).`);
}

export function setup() {
  $("logs-form").addEventListener("submit", (ev) => { ev.preventDefault(); load().catch((err) => say($("logs-message"), err.message, "error")); });
  $("panel-logs").addEventListener("click", (ev) => {
    const link = ev.target.closest("a.find");
    if (!link) return;
    ev.preventDefault();
    find(link.dataset.find);
  });
}
