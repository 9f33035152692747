// The reports page's live card: GET /api/supervisor/reports/live (queues.rollups.live),
// re-read on every routing event of the live stream and every few seconds, without
// touching the range figures below it. Oldest waits tick on between reads.
"use strict";

const LIVE_POLL_MS = 5000; // time passes and the fold catches up even when no event comes
const FOLD_LAG_MS = 1500; // the fold runs about once a second: read again once it has
const AGENT_STATES = ["available", "reserved", "on_call", "wrap_up", "break", "offline"];
let liveView = null;
let nowReadAt = performance.now();
let settle = null;

async function readNow() {
  try {
    liveView = await api("GET", "/api/supervisor/reports/live");
    nowReadAt = performance.now();
    renderNow();
  } catch (error) { console.warn(error); }
}

function onRoutingEvent() {
  readNow();
  clearTimeout(settle);
  settle = setTimeout(readNow, FOLD_LAG_MS);
}

function nowQueueRow(name, q) {
  const level = q.service_level_today === null ? "–" : `${(q.service_level_today * 100).toFixed(1)}%`;
  const row = el("tr", null, { "data-queue": name });
  row.append(el("th", q.display_name, { scope: "row" }));
  row.append(el("td", q.waiting, { class: "num waiting" }), el("td", "", { class: "num oldest" }));
  row.append(el("td", level, { class: "num level" }), el("td", q.answered_today, { class: "num answered" }));
  return row;
}

function renderNow() {
  document.getElementById("now-at").textContent = `at ${liveView.at.slice(11, 19)}`;
  const body = document.querySelector("#now-queues tbody");
  body.replaceChildren(...Object.entries(liveView.queues).map(([name, q]) => nowQueueRow(name, q)));
  const states = [...AGENT_STATES, ...Object.keys(liveView.agents).filter((s) => !AGENT_STATES.includes(s))];
  document.getElementById("now-agents").replaceChildren(...states.map((s) => {
    const item = el("li", null, { "data-state": s });
    item.append(el("span", liveView.agents[s] || 0, { class: "n" }), ` ${s.replace("_", " ")}`);
    return item;
  }));
  tickNow();
}

function tickNow() {
  if (!liveView) return;
  const dt = since(nowReadAt);
  document.querySelectorAll("#now-queues tbody tr").forEach((row) => {
    const q = liveView.queues[row.dataset.queue];
    row.querySelector(".oldest").textContent = q.waiting ? duration(q.oldest_wait_s + dt) : "–";
  });
}

live(onRoutingEvent);
setInterval(readNow, LIVE_POLL_MS);
setInterval(tickNow, 1000);
