// The status page: signs in with the management key, then draws /status.json.
// No library, no CDN. Every value goes into the page as text (never as HTML).
"use strict";
(() => {
  const KEY = "cliproxy-management-key";
  const REFRESH_MS = 10000;
  const SVG = "http://www.w3.org/2000/svg";
  const $ = (id) => document.getElementById(id);
  let timer = null;

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") node.className = v;
      else node.setAttribute(k, String(v));
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }

  function svg(tag, attrs) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    return node;
  }

  function duration(seconds) {
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

  const compact = (n) => {
    n = Number(n) || 0;
    if (n >= 1e9) return (n / 1e9).toFixed(1) + "G";
    if (n >= 1e6) return (n / 1e6).toFixed(1) + "M";
    if (n >= 1e4) return (n / 1e3).toFixed(0) + "k";
    if (n >= 1e3) return (n / 1e3).toFixed(1) + "k";
    return String(n);
  };
  const time = (ts) => new Date(ts * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  const badgeClass = {
    RUNNING: "ok", STARTING: "info", STOPPED: "off", BACKOFF: "bad", FATAL: "bad", EXITED: "bad",
    ready: "ok", cooling: "warn", refreshing: "info", disabled: "bad", login_required: "bad",
  };
  const badge = (text) => el("span", { class: `badge ${badgeClass[text] || "info"}` }, text.replace("_", " "));

  // -- sections -------------------------------------------------------------------

  function programs(sup) {
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
      return el("li", { class: "prog", "data-program": name, "data-state": p.state },
        el("strong", {}, name),
        badge(p.state),
        p.health === "-" && p.healthy ? null : el("span", { class: p.healthy ? "muted" : "error" },
          [`health ${p.health}`, p.latency_ms !== null ? ` ${p.latency_ms.toFixed(1)} ms` : "", p.healthy || !p.detail ? "" : ` (${p.detail})`].join("")),
        facts.length ? el("span", { class: "muted" }, facts.join(" · ")) : null);
    });
    box.replaceChildren(el("ul", { class: "progs" }, items));
    const verdict = sup.healthy ? "healthy" : "UNHEALTHY";
    $("summary").textContent = `${sup.processes.length} processes, ${verdict}`;
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

  function relay(list) {
    if (!list.length) {
      $("relay").replaceChildren(el("p", { class: "muted" }, "No relay service connected to /v1/ws."));
      return;
    }
    const items = list.map((s) => el("li", { class: "prog", "data-service": s.name },
      el("strong", { class: "mono" }, s.name),
      s.resting > 0 ? el("span", { class: "badge warn" }, `resting ${duration(s.resting)}`) : badge(s.free > 0 ? "ready" : "busy"),
      el("span", { class: "muted" }, `${s.capacity} pages · ${s.in_flight} busy · ${s.free} free`),
      (s.profiles || []).map((p) => el("span", { class: "muted" }, badge(p.state), " ", p.name))));
    $("relay").replaceChildren(el("ul", { class: "progs" }, items));
  }

  function errors(list) {
    if (!list.length) {
      $("errors").replaceChildren(el("p", { class: "muted" }, "No failed requests recorded."));
      return;
    }
    const items = list.map((e) => el("li", { class: "err", "data-request-id": e.request_id },
      el("div", { class: "err-head" },
        el("span", { class: "badge bad" }, e.status),
        el("span", {}, time(e.ts)),
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

  // A bar chart of 24 hourly values as inline SVG; series are stacked.
  function chart(box, hours, series, classes) {
    const W = 480, H = 150, L = 34, B = 18, T = 8;
    const totals = hours.map((h) => series.reduce((s, k) => s + (Number(h[k]) || 0), 0));
    const max = Math.max(1, ...totals);
    const bw = (W - L) / hours.length;
    const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": series.join(" + ") + " per hour" });
    root.append(svg("line", { class: "axis", x1: L, x2: W, y1: H - B, y2: H - B }));
    root.append(svg("line", { class: "axis", x1: L, x2: W, y1: T, y2: T }));
    const top = svg("text", { x: L - 4, y: T + 4, "text-anchor": "end" }); top.textContent = compact(max);
    const zero = svg("text", { x: L - 4, y: H - B + 3, "text-anchor": "end" }); zero.textContent = "0";
    root.append(top, zero);
    let bars = 0;
    hours.forEach((h, i) => {
      let y = H - B;
      series.forEach((k, j) => {
        const v = Number(h[k]) || 0;
        if (!v) return;
        const height = Math.max(1, (v / max) * (H - B - T));
        y -= height;
        const r = svg("rect", { class: classes[j], x: L + i * bw + 1, y, width: Math.max(1, bw - 2), height });
        const tip = svg("title", {}); tip.textContent = `${new Date(h.t * 1000).getHours()}:00 ${k}: ${v}`;
        r.append(tip); root.append(r); bars += 1;
      });
      if (i % 6 === 0) {
        const label = svg("text", { x: L + i * bw + bw / 2, y: H - 4, "text-anchor": "middle" });
        label.textContent = `${String(new Date(h.t * 1000).getHours()).padStart(2, "0")}:00`;
        root.append(label);
      }
    });
    box.replaceChildren(root);
    box.dataset.bars = String(bars);
    box.dataset.total = String(totals.reduce((a, b) => a + b, 0));
  }

  function usage(u) {
    const hours = u.hours || [];
    chart($("chart-requests"), hours, ["requests"], ["b1"]);
    chart($("chart-tokens"), hours, ["tokens_in", "tokens_out"], ["b1", "b2"]);
    const sum = (k) => hours.reduce((s, h) => s + (Number(h[k]) || 0), 0);
    $("requests-total").textContent = `(${sum("requests")} in 24 h, ${sum("errors")} failed)`;
    $("tokens-total").textContent = `(${compact(sum("tokens_in"))} in, ${compact(sum("tokens_out"))} out)`;
    $("usage-problem").textContent = u.problem || "";
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
    const key = sessionStorage.getItem(KEY);
    if (!key) return signedOut("");
    clearTimeout(timer);
    let resp;
    try {
      resp = await fetch("/status.json", { headers: { Authorization: `Bearer ${key}` }, cache: "no-store" });
    } catch (err) {
      $("updated").textContent = `Router unreachable (${err}); retrying`;
      timer = setTimeout(load, REFRESH_MS);
      return;
    }
    if (resp.status === 401 || resp.status === 403 || resp.status === 429) {
      let message = `Refused (${resp.status})`;
      try { message = (await resp.json()).error.message || message; } catch (_) { /* keep the status */ }
      return signedOut(message);
    }
    if (!resp.ok) {
      $("updated").textContent = `status.json answered ${resp.status}; retrying`;
      timer = setTimeout(load, REFRESH_MS);
      return;
    }
    const data = await resp.json();
    $("signin").hidden = true;
    $("dashboard").hidden = false;
    $("signout").hidden = false;
    programs(data.supervisor);
    providers(data.providers || []);
    relay(data.relay || []);
    usage(data.usage || {});
    errors(data.errors || []);
    if (!data.supervisor) $("summary").textContent = `router pid ${data.router.pid}, up ${duration(data.now - data.router.started_at)}`;
    $("updated").textContent = `Updated ${time(data.now)}; refreshes every ${REFRESH_MS / 1000} s`;
    document.body.dataset.loaded = String(data.now);
    timer = setTimeout(load, REFRESH_MS);
  }

  document.addEventListener("DOMContentLoaded", () => {
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
})();
