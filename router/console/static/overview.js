// Overview: what /status shows (programs, the last 24 hours, relay services, last errors),
// from /status.json. Credentials are on the Accounts tab, with their actions. The status
// page (router/observability/static/status.js) draws its sections with these functions.
import { $, api, el, badge, barChart, compact, duration, clock } from "./ui.js";

export function programs(sup) {
  const box = $("programs");
  if (!sup) {
    box.replaceChildren(el("p", { class: "muted" }, "Not running under supervisord (started by hand): no programs to show."));
    return;
  }
  if (!sup.running || !sup.processes || !sup.processes.length) {
    box.replaceChildren(el("p", { class: "error" }, sup.problem || "supervisord is not running"));
    return;
  }
  const items = sup.processes.map((p) => {
    const name = p.name === p.program ? p.name : `${p.program}:${p.name}`;
    const facts = [];
    if (p.uptime_s !== null) facts.push(`up ${duration(p.uptime_s)}`);
    if (p.restarts !== null) facts.push(`${p.restarts} restart${p.restarts === 1 ? "" : "s"}`);
    if (p.pid) facts.push(`pid ${p.pid}`);
    return el("li", { class: "row-item", "data-program": name, "data-state": p.state },
      el("strong", {}, name), badge(p.state),
      p.health === "-" && p.healthy ? null : el("span", { class: p.healthy ? "muted" : "error" },
        `health ${p.health}` + (p.latency_ms !== null ? ` ${p.latency_ms.toFixed(1)} ms` : "") + (p.healthy || !p.detail ? "" : ` (${p.detail})`)),
      facts.length ? el("span", { class: "muted" }, facts.join(" · ")) : null);
  });
  box.replaceChildren(el("ul", { class: "plain" }, items));
}

export function day(u) {
  const hours = u.hours || [];
  const rows = hours.map((h) => ({ label: `${String(new Date(h.t * 1000).getHours()).padStart(2, "0")}:00`, values: h }));
  barChart($("chart-requests"), rows, ["requests"], { label: "requests per hour" });
  barChart($("chart-tokens"), rows, ["tokens_in", "tokens_out"], { label: "tokens in and out per hour" });
  const sum = (k) => hours.reduce((s, h) => s + (Number(h[k]) || 0), 0);
  $("requests-total").textContent = `(${sum("requests")} in 24 h, ${sum("errors")} failed)`;
  $("tokens-total").textContent = `(${compact(sum("tokens_in"))} in, ${compact(sum("tokens_out"))} out)`;
  $("usage-problem").textContent = u.problem || "";
}

export function relay(list) {
  if (!list.length) {
    $("relay").replaceChildren(el("p", { class: "muted" }, "No relay service connected to /v1/ws."));
    return;
  }
  $("relay").replaceChildren(el("ul", { class: "plain" }, list.map((s) => el("li", { class: "row-item", "data-service": s.name },
    el("strong", { class: "mono" }, s.name),
    s.resting > 0 ? el("span", { class: "badge warn" }, `resting ${duration(s.resting)}`) : badge(s.free > 0 ? "ready" : "busy"),
    el("span", { class: "muted" }, `${s.capacity} pages · ${s.in_flight} busy · ${s.free} free`),
    (s.profiles || []).map((p) => el("span", { class: "muted" }, badge(p.state), " ", p.name))))));
}

function errors(list) {
  if (!list.length) {
    $("errors").replaceChildren(el("p", { class: "muted" }, "No failed requests recorded."));
    return;
  }
  $("errors").replaceChildren(el("ul", { class: "plain" }, list.map((e) => el("li", { class: "err", "data-request-id": e.request_id },
    el("div", { class: "row-item" }, el("span", { class: "badge bad" }, e.status), el("span", {}, clock(e.ts)),
      el("strong", {}, e.model), el("span", { class: "muted" }, e.credential || e.provider || "no provider")),
    el("div", { class: "mono muted" }, el("a", { href: `#logs`, "data-find": e.request_id, class: "find" }, e.request_id)),
    e.error ? el("div", { class: "clamp", title: e.error }, e.error) : null))));
}

export function setup() {
  $("errors").addEventListener("click", (ev) => { // a request id opens the Logs tab searching it
    const link = ev.target.closest("a.find");
    if (!link) return;
    $("logs-q").value = link.dataset.find;
  });
}

export async function load() {
  const data = await api("/status.json");
  programs(data.supervisor);
  day(data.usage || {});
  relay(data.relay || []);
  errors(data.errors || []);
}
