// Usage: requests and tokens per day by model, provider, credential or client key, from
// /v1/usage (the usage records: every worker, across restarts). A stacked bar per day (the
// six largest groups, the rest as "other"), the table, and the same query as CSV.
import { $, api, el, barChart, compact, say, table } from "./ui.js";

const TOP = 6;

function query(format) {
  const days = Number($("usage-days").value) || 7;
  const now = Math.floor(Date.now() / 1000);
  const from = (Math.floor(now / 86400) - days + 1) * 86400; // whole UTC days
  const by = $("usage-by").value;
  return `/v1/usage?from=${from}&to=${now + 1}&group_by=day,${by}` + (format ? `&format=${format}` : "");
}

// /v1/usage names a day "YYYY-MM-DD" (UTC); a number is Unix seconds.
const isoDay = (t) => (typeof t === "string" ? t : new Date(Number(t) * 1000).toISOString().slice(0, 10));

function draw(data) {
  const by = $("usage-by").value;
  const metric = $("usage-metric").value;
  const value = (r) => (metric === "tokens" ? (Number(r.tokens_in) || 0) + (Number(r.tokens_out) || 0) : Number(r.requests) || 0);
  const rows = data.rows || [];
  const totals = new Map();
  for (const r of rows) totals.set(r[by] || "none", (totals.get(r[by] || "none") || 0) + value(r));
  const ranked = [...totals.entries()].sort((a, b) => b[1] - a[1]).map(([k]) => k);
  const series = ranked.slice(0, TOP);
  if (ranked.length > TOP) series.push("other");
  const days = new Map();
  const count = Number($("usage-days").value) || 7;
  const first = Math.floor(Date.now() / 86400000) - count + 1;
  for (let d = 0; d < count; d++) days.set(isoDay((first + d) * 86400), {});
  for (const r of rows) {
    const day = isoDay(r.day);
    const name = series.includes(r[by] || "none") ? r[by] || "none" : "other";
    const slot = days.get(day) || {};
    slot[name] = (slot[name] || 0) + value(r);
    days.set(day, slot);
  }
  const chartRows = [...days.entries()].map(([day, values]) => ({ label: day.slice(5), values }));
  barChart($("usage-chart"), chartRows, series, {
    label: `${metric} per day by ${by.replace("_", " ")}`,
    title: (r, s, v) => `${r.label} ${s}: ${compact(v)} ${metric}`,
  });
  $("usage-table").replaceChildren(rows.length ? table([
    { title: "Day", value: (r) => isoDay(r.day) },
    { title: by.replace("_", " "), value: (r) => r[by] || "none", mono: true },
    { title: "Requests", value: (r) => r.requests, num: true },
    { title: "Failed", value: (r) => r.errors, num: true },
    { title: "Tokens in", value: (r) => r.tokens_in, num: true },
    { title: "Tokens out", value: (r) => r.tokens_out, num: true },
    { title: "Cached", value: (r) => r.tokens_cached, num: true },
    { title: "Avg ms", value: (r) => Math.round(Number(r.latency_ms_avg) || 0), num: true },
  ], [...rows].sort((a, b) => String(b.day).localeCompare(String(a.day)) || value(b) - value(a)), { caption: "usage rows" })
    : el("p", { class: "muted" }, "No requests in this range."));
  const t = data.total || {};
  say($("usage-message"), `${t.requests || 0} requests (${t.errors || 0} failed), ${compact(t.tokens_in)} tokens in, ${compact(t.tokens_out)} out; from ${data.store || "the usage store"}.`);
}

// The key travels in a header, so the CSV is fetched here and handed to the browser as a file.
async function download() {
  try {
    const resp = await api(query("csv"), { raw: true });
    const blob = await resp.blob();
    const link = el("a", { href: URL.createObjectURL(blob), download: `usage-${$("usage-by").value}-${$("usage-days").value}d.csv` });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 10000);
  } catch (err) {
    say($("usage-message"), `Could not download: ${err.message}`, "error");
  }
}

export async function load() {
  try {
    draw(await api(query("")));
  } catch (err) {
    say($("usage-message"), err.message, "error");
    throw err;
  }
}

export function setup() {
  $("usage-form").addEventListener("submit", (ev) => { ev.preventDefault(); load(); });
  for (const id of ["usage-days", "usage-by", "usage-metric"]) $(id).addEventListener("change", () => load());
  $("usage-csv").addEventListener("click", download);
}
