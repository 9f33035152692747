// The reports dashboard: reads GET /api/supervisor/reports for the chosen filters and
// draws it with Chart.js (vendored). Every chart has its data as a table too. The
// queue and agent figures are shown as the server formats them (`ivr report`'s text).
// Rows over time are hours of one day, hours of a few days, or days (`doc.intervals.by`).
// The live card at the top is reports_live.js.
"use strict";

const COLOURS = { blue: "#0b5cad", red: "#a4161a", amber: "#8a4b00", green: "#17663a", purple: "#5b3d99" };
const charts = {};

Chart.defaults.animation = false; // nothing moves: steadier for people and for screenshots
Chart.defaults.color = "#1b2430";
Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
Chart.defaults.maintainAspectRatio = false;
Chart.defaults.plugins.legend.labels.usePointStyle = true; // dashed lines make poor swatches

function fixed(value, digits, suffix = "") {
  return value === null || value === undefined ? "–" : `${Number(value).toFixed(digits)}${suffix}`;
}
function percent(value) { return value === null || value === undefined ? null : value * 100; }

function draw(id, config) {
  if (charts[id]) charts[id].destroy();
  charts[id] = new Chart(document.getElementById(id), config);
}

function table(id, head, rows) {
  const node = document.getElementById(id);
  const thead = el("thead"), body = el("tbody"), tr = el("tr");
  head.forEach((h, i) => tr.append(el("th", h, { scope: "col", class: i ? "num" : "" })));
  thead.append(tr);
  for (const row of rows) {
    const line = el("tr");
    row.forEach((v, i) => line.append(i ? el("td", v, { class: "num" }) : el("th", v, { scope: "row" })));
    body.append(line);
  }
  if (!rows.length) {
    const empty = el("tr");
    empty.append(el("td", "No data in this range", { colspan: head.length }));
    body.append(empty);
  }
  node.replaceChildren(thead, body);
}

function line(label, data, colour, dash) {
  return { label, data, borderColor: colour, backgroundColor: colour, borderDash: dash || [], pointRadius: 3, clip: false };
}

// Rows of figures (one line per figure, one column per queue or agent), as `ivr report` prints them.
function figures(id, shown, rowTitle) {
  const names = Object.keys(shown);
  const columns = names.length ? Object.keys(shown[names[0]]) : [];
  const node = document.getElementById(id);
  const head = el("tr");
  head.append(el("th", rowTitle, { scope: "col" }));
  names.forEach((n) => head.append(el("th", n, { scope: "col", class: "num" })));
  node.tHead.replaceChildren(head);
  node.tBodies[0].replaceChildren(...columns.map((c) => {
    const tr = el("tr", null, { "data-figure": c });
    tr.append(el("th", c, { scope: "row" }));
    names.forEach((n) => tr.append(el("td", shown[n][c], { class: "num", "data-name": n })));
    return tr;
  }));
}

function frt(hours, unit) {
  const labels = hours.map((h) => h.label);
  draw("frt-chart", {
    type: "line",
    data: { labels, datasets: [
      line("Median", hours.map((h) => h.frt_median_s), COLOURS.blue),
      line("p90", hours.map((h) => h.frt_p90_s), COLOURS.amber, [6, 3]),
      line("p95", hours.map((h) => h.frt_p95_s), COLOURS.red, [2, 2]),
    ] },
    options: { scales: { y: { beginAtZero: true, title: { display: true, text: "seconds" } } } },
  });
  table("frt-table", [unit, "Contacts answered", "Median (s)", "p90 (s)", "p95 (s)", "Mean (s)"],
    hours.map((h) => [h.label, h.answered, fixed(h.frt_median_s, 1), fixed(h.frt_p90_s, 1),
      fixed(h.frt_p95_s, 1), fixed(h.frt_mean_s, 1)]));
}

function serviceLevel(hours, unit) {
  draw("sl-chart", {
    type: "bar",
    data: { labels: hours.map((h) => h.label), datasets: [
      { label: "Service level %", data: hours.map((h) => percent(h.service_level)), backgroundColor: COLOURS.green },
      { label: "Abandoned %", data: hours.map((h) => percent(h.abandon_rate)), backgroundColor: COLOURS.red },
    ] },
    options: { scales: { y: { min: 0, max: 100, title: { display: true, text: "%" } } } },
  });
  table("sl-table", [unit, "Queued", "Answered", "Abandoned", "Service level", "Abandonment"],
    hours.map((h) => [h.label, h.queued, h.answered, h.abandoned,
      fixed(percent(h.service_level), 1, "%"), fixed(percent(h.abandon_rate), 1, "%")]));
}

function ces(id, rows, what) {
  const names = Object.keys(rows);
  draw(`${id}-chart`, {
    type: "bar",
    data: { labels: names, datasets: [
      { label: "Mean CES", data: names.map((n) => rows[n].ces_mean), backgroundColor: COLOURS.purple },
    ] },
    options: { scales: { y: { min: 1, max: 7, title: { display: true, text: "CES (7 = easy)" } } } },
  });
  table(`${id}-table`, [what, "Mean CES", "Share 5–7", "Replies"],
    names.map((n) => [n, fixed(rows[n].ces_mean, 2), fixed(percent(rows[n].ces_top_share), 1, "%"), rows[n].ces_responses]));
}

function scatter(data) {
  const points = data.points;
  draw("scatter-chart", {
    type: "scatter",
    data: { datasets: [{ label: "Rated contacts", data: points.map((p) => ({ x: p.frt_s, y: p.ces })),
      backgroundColor: COLOURS.blue, pointRadius: 5, clip: false }] },
    options: { scales: {
      x: { beginAtZero: true, title: { display: true, text: "FRT (seconds)" } },
      y: { min: 1, max: 7, title: { display: true, text: "CES (7 = easy)" } } } },
  });
  const more = data.truncated ? ` (the first ${points.length} shown)` : "";
  document.getElementById("scatter-note").textContent = `${data.rated} rated contacts${more}.`;
  table("scatter-table", ["Call", "Queue", "Agent", "FRT (s)", "CES"],
    points.map((p) => [p.call, p.queue, p.agent, fixed(p.frt_s, 1), p.ces]));
}

function staffing(rows) {
  const advice = document.getElementById("advice");
  advice.replaceChildren(...rows.flatMap((r) => [el("li", `${r.date} ${r.advice}`)].concat(
    r.advice_erlang_a ? [el("li", `${r.date} ${r.advice_erlang_a}`)] : [])));
  if (!rows.length) advice.append(el("li", "No calls in this range.", { class: "muted" }));
  const labels = rows.map((r) => `${r.queue} ${r.date.slice(5)} ${r.interval.split(" and ")[0]}`);
  draw("staffing-chart", {
    type: "bar",
    data: { labels, datasets: [
      { label: "Agents needed (Erlang C)", data: rows.map((r) => r.needed), backgroundColor: COLOURS.blue },
      ...(rows.some((r) => r.needed_erlang_a !== undefined) ? [{ label: "Agents needed (Erlang A)",
        data: rows.map((r) => r.needed_erlang_a ?? null), backgroundColor: COLOURS.green }] : []),
      { label: "Agents staffed", data: rows.map((r) => r.had), backgroundColor: COLOURS.amber },
    ] },
    options: { scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } },
  });
  table("staffing-table", ["Queue", "Date", "Between", "Calls per hour", "AHT (s)", "Patience (s)",
    "Needed (Erlang C)", "Needed (Erlang A)", "Had"],
    rows.map((r) => [r.queue, r.date, r.interval, r.arrivals_per_hour, fixed(r.aht_s, 1),
      r.patience_s ?? "-", r.needed, r.needed_erlang_a ?? "-", r.had]));
}

function render(doc) {
  const when = (iso) => iso.slice(0, 16).replace("T", " ");
  document.getElementById("range-text").textContent = `${when(doc.from)} to ${when(doc.to)}`;
  figures("figures", doc.shown.queues, "figure");
  figures("agent-figures", doc.shown.agents, "figure");
  const by = doc.intervals.by;
  document.querySelectorAll(".by").forEach((node) => { node.textContent = by; });
  const unit = by === "day" ? "Day" : "Hour";
  frt(doc.intervals.rows, unit);
  serviceLevel(doc.intervals.rows, unit);
  ces("ces-agent", doc.agent_ces, "Agent");
  ces("ces-queue", doc.queues, "Queue");
  scatter(doc.scatter);
  staffing(doc.staffing);
}

async function load() {
  const form = document.getElementById("filters");
  const query = new URLSearchParams(new FormData(form));
  const status = document.getElementById("report-status");
  status.textContent = "Loading…";
  showError("report-error", null);
  try {
    const doc = await api("GET", `/api/supervisor/reports?${query}`);
    history.replaceState(null, "", `/supervisor/reports?${query}`);
    render(doc);
    status.textContent = `Showing ${doc.queue || "all queues"}.`;
    document.body.dataset.loaded = query.toString();
  } catch (error) {
    status.textContent = "";
    showError("report-error", error);
  }
}

document.getElementById("filters").addEventListener("submit", (event) => { event.preventDefault(); load(); });
document.getElementById("queue").addEventListener("change", load);
load();
