// The supervisor view: renders GET /api/supervisor/floor and re-reads it on live events.
"use strict";

let floor = initialView();
let readAt = performance.now();

async function refresh() {
  try {
    floor = await api("GET", "/api/supervisor/floor");
    readAt = performance.now();
    render();
  } catch (error) { console.warn(error); }
}

function cells(row, values) { for (const v of values) row.append(el("td", v)); return row; }

function render() {
  const queues = document.querySelector("#queues tbody");
  queues.replaceChildren(...floor.queues.map((q) => {
    const row = cells(el("tr", null, { "data-queue": q.name }), [
      q.display_name, q.waiting, duration(q.oldest_wait_s), duration(q.estimated_wait_s),
      q.service_level === null ? "–" : `${(q.service_level * 100).toFixed(1)}% in ${q.service_level_s}s`,
      q.answered, q.abandoned]);
    row.children[1].className = "waiting-count";
    return row;
  }));
  const agents = document.querySelector("#agents tbody");
  agents.replaceChildren(...floor.agents.map(agentRow));
  renderWaiting(document.querySelector("#waiting tbody"));
  const callbacks = document.querySelector("#callbacks tbody");
  callbacks.replaceChildren(...(floor.callbacks || []).map(callbackRow));
  if (!(floor.callbacks || []).length) {
    callbacks.append(cells(el("tr"), ["No callbacks pending", "", "", "", "", "", ""]));
  }
  const alerts = document.getElementById("alerts");
  alerts.replaceChildren(...floor.alerts.map((a) => {
    const agent = floor.agents.find((x) => x.id === a.agent)?.name || a.agent;
    const queue = floor.queues.find((q) => q.name === a.queue)?.display_name || a.queue || "";
    const who = `${a.number || "a caller"}${a.agent ? ` (${agent}, ${queue})` : ""}`;
    return el("li", `CES ${a.ces ?? "?"} — ${who}${a.comment ? `: “${a.comment}”` : ""}`);
  }));
  if (!floor.alerts.length) alerts.append(el("li", "No low scores.", { class: "muted" }));
  document.getElementById("voicemails-unhandled").textContent = floor.voicemails_unhandled ?? 0;
  document.getElementById("outbound-legs").textContent = floor.outbound?.legs ?? 0;
  document.getElementById("outbound-oldest").textContent = Math.round(floor.outbound?.oldest_s ?? 0);
  renderVoicemailQueues(floor.voicemails_by_queue || {});
  document.getElementById("config-version").textContent = floor.config.version;
  const error = document.getElementById("config-error");
  error.hidden = !floor.config.last_error;
  error.textContent = floor.config.last_error ? `Last reload failed: ${floor.config.last_error}` : "";
  tick();
}

function agentRow(a) {
  const back = a.back_in_s != null ? `, back in ${Math.ceil(a.back_in_s / 60)} min` : "";
  const state = a.reason ? `${a.state_label} (${a.reason}${back})` : a.state_label;
  const row = cells(el("tr", null, { "data-agent": a.id }), [
    `${a.name} (${a.id})`, state, "", a.call_label || "–", a.handled_today, a.missed_today]);
  row.children[1].className = "agent-state";
  row.children[2].className = "in-state";
  const actions = el("td");
  const pause = el("button", "Break", { type: "button", class: "btn", "aria-label": `Put ${a.name} on break` });
  pause.addEventListener("click", () => act(() => api("POST", `/api/supervisor/agents/${a.id}/break`, { reason: "supervisor" })));
  const out = el("button", "Log out", { type: "button", class: "btn btn-quiet", "aria-label": `Log ${a.name} out` });
  out.addEventListener("click", () => act(() => api("POST", `/api/supervisor/agents/${a.id}/logout`)));
  actions.append(pause, " ", out);
  if (a.call && a.state === "on_call") actions.append(monitorControls(a));
  row.append(actions);
  return row;
}

// Monitoring an agent's connected call: listen (muted), whisper (only the agent hears you)
// or barge (everyone hears you); the supervisor's own device rings into the call.
const MONITOR_MODES = { listen: "Listen", whisper: "Whisper", barge: "Barge" };
const MONITOR_STATES = { listen: "listening", whisper: "whispering to the agent", barge: "in the call" };
const MONITOR_YOU = { listen: "Listening: nobody hears you", whisper: "Whispering: only the agent hears you", barge: "In the call: everyone hears you" };
const me = document.getElementById("agents").dataset.me;

function monitorControls(a) {
  const box = el("div", null, { class: "monitor", role: "group", "aria-label": `Monitor ${a.name}'s call` });
  const m = a.monitor;
  if (m && m.by !== me) {
    box.append(el("span", `${m.by_name} is ${MONITOR_STATES[m.mode]}`, { class: "monitor-state muted" }));
    return box;
  }
  if (m) box.append(el("span", MONITOR_YOU[m.mode], { class: "monitor-state" }), " ");
  const path = `/api/supervisor/calls/${encodeURIComponent(a.call)}/monitor`;
  for (const [mode, label] of Object.entries(MONITOR_MODES)) {
    if (m && m.mode === mode) continue;
    const button = el("button", label, { type: "button", class: "btn btn-quiet", "data-mode": mode, "aria-label": `${label}: ${a.name}'s call` });
    button.addEventListener("click", () => monitorAct(box, () => api("POST", path, { mode })));
    box.append(button, " ");
  }
  if (m) {
    const stop = el("button", "Stop", { type: "button", class: "btn", "data-mode": "stop", "aria-label": `Stop monitoring ${a.name}'s call` });
    stop.addEventListener("click", () => monitorAct(box, () => api("DELETE", path)));
    box.append(stop);
  }
  return box;
}

// One monitoring request at a time: a double click must not ring the supervisor twice.
function monitorAct(box, work) {
  box.querySelectorAll("button").forEach((b) => { b.disabled = true; });
  return act(work);
}

function callbackRow(cb) {
  const due = cb.due ? new Date(cb.due * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) : "–";
  const kind = cb.kind === "keep" ? "keeps place" : "scheduled";
  const row = cells(el("tr", null, { "data-callback": cb.id }), [
    cb.number, cb.queue_name || cb.queue, kind, cb.state.replace("_", " "), due, cb.attempts]);
  const cell = el("td");
  const cancel = el("button", "Cancel", { type: "button", class: "btn btn-quiet", "aria-label": `Cancel the callback to ${cb.number}` });
  cancel.addEventListener("click", () => act(() => api("POST", `/api/supervisor/callbacks/${cb.id}/cancel`)));
  cell.append(cancel);
  row.append(cell);
  return row;
}

// Waiting calls keep their rows across live updates (keyed by call), so a priority being
// typed is neither wiped nor blurred: only the cells change, and a field the supervisor
// has edited keeps their value until they set it (or the call leaves the queue).
const waitingRows = new Map();

function renderWaiting(body) {
  const calls = floor.waiting;
  const rows = calls.map((c) => {
    const row = waitingRows.get(c.call) || newWaitingRow(c.call);
    updateWaitingRow(row, c);
    return row;
  });
  for (const [call, row] of waitingRows) {
    if (!calls.some((c) => c.call === call)) { row.remove(); waitingRows.delete(call); }
  }
  body.querySelectorAll("tr:not([data-call])").forEach((row) => row.remove());
  rows.forEach((row, i) => { if (body.children[i] !== row) body.insertBefore(row, body.children[i] || null); });
  if (!calls.length) body.append(cells(el("tr"), ["No calls waiting", "", "", "", "", "", ""]));
}

function newWaitingRow(call) {
  const row = el("tr", null, { "data-call": call });
  for (const name of ["who", "queue", "position", "wait", "language", "state"]) row.append(el("td", null, { class: name }));
  const cell = el("td");
  const id = `prio-${waitingRows.size}-${Date.now()}`;
  const label = el("label", "Priority", { for: id, class: "visually-hidden" });
  const input = el("input", null, { id, type: "number", min: "0", max: "99", class: "priority" });
  input.addEventListener("input", () => { input.dataset.dirty = "1"; });
  const save = el("button", "Set", { type: "button", class: "btn" });
  save.addEventListener("click", () => act(async () => {
    await api("PUT", `/api/supervisor/calls/${encodeURIComponent(call)}/priority`, { priority: Number(input.value) });
    delete input.dataset.dirty;
  }));
  cell.append(label, input, " ", save);
  row.append(cell);
  waitingRows.set(call, row);
  return row;
}

function updateWaitingRow(row, c) {
  const text = (name, value) => { row.querySelector(`.${name}`).textContent = value; };
  text("who", c.caller_label || "Unknown caller");
  text("queue", c.queue_name || c.queue);
  text("position", c.position);
  text("language", c.language_name || c.language || "–");
  text("state", c.state);
  const input = row.querySelector("input.priority");
  if (!input.dataset.dirty && document.activeElement !== input) input.value = c.priority;
  row.querySelector("button").setAttribute("aria-label", `Set priority of the call in position ${c.position}`);
}

function tick() {
  const dt = since(readAt);
  document.querySelectorAll("#agents tbody tr").forEach((row, i) => {
    const a = floor.agents[i];
    if (a) row.querySelector(".in-state").textContent = a.in_state_s === null ? "–" : duration(a.in_state_s + dt);
  });
  document.querySelectorAll("#waiting tbody tr[data-call]").forEach((row, i) => {
    row.querySelector(".wait").textContent = duration(floor.waiting[i].wait_s + dt);
  });
}

async function act(work) {
  showError("action-error", null);
  try { await work(); } catch (error) { showError("action-error", error); }
  await refresh();
}

// Today's queue figures come from the fold (queues.rollups.read_today), which runs about
// once a second: read again once it has caught up with the event that woke us.
const FOLD_LAG_MS = 1500;
let settle = null;

function onRoutingEvent() {
  refresh();
  clearTimeout(settle);
  settle = setTimeout(refresh, FOLD_LAG_MS);
}

// -- softphone: monitoring rings the supervisor's device; a client:NAME device rings here --
function softphoneSays(text) { document.getElementById("softphone").textContent = text; }

function startSoftphone() {
  const phone = JSON.parse(document.getElementById("phone").textContent);
  if (!phone.device) { softphoneSays("No phone is set for you (device in supervisors.yaml): you cannot listen to calls."); return; }
  if (!phone.identity) { softphoneSays(`Monitoring rings your phone, ${phone.device}.`); return; }
  const fallback = `Monitoring rings ${phone.device}: answer it in another Twilio client.`;
  if (!phone.configured) { softphoneSays(`Softphone not configured: this service has no Twilio API key for it. ${fallback}`); return; }
  const unavailable = `Softphone unavailable: the Twilio Voice SDK did not load in this browser. ${fallback}`;
  const script = document.createElement("script");
  script.src = document.getElementById("voice-sdk").dataset.url;
  script.async = true;
  script.onerror = () => softphoneSays(unavailable);
  script.onload = async () => {
    if (!window.Twilio || !window.Twilio.Device) { softphoneSays(unavailable); return; }
    try {
      const { token } = await api("GET", "/api/supervisor/token");
      const device = new window.Twilio.Device(token, { closeProtection: true });
      device.on("registered", () => softphoneSays("Softphone ready: monitored calls ring in this page."));
      device.on("unregistered", () => softphoneSays(`Softphone offline: no connection to Twilio. ${fallback}`));
      device.on("error", (e) => softphoneSays(`Softphone error: ${e.message}${e.code ? ` (${e.code})` : ""}. ${fallback}`));
      device.on("incoming", (call) => call.accept());  // only the calls this supervisor asked for
      device.on("tokenWillExpire", async () => device.updateToken((await api("GET", "/api/supervisor/token")).token));
      await device.register();
    } catch (error) {
      softphoneSays(`Softphone unavailable: ${error.message}. ${fallback}`);
    }
  };
  document.head.append(script);
}

render();
setInterval(tick, 1000);
live(onRoutingEvent);
startSoftphone();

// Per queue: the voicemails still to call back, and how long the oldest has waited.
function renderVoicemailQueues(byQueue) {
  const list = document.getElementById("voicemail-queues");
  const rows = Object.entries(byQueue).filter(([, b]) => b.unhandled > 0);
  list.replaceChildren(...rows.map(([queue, b]) => el("li",
    `${queue || "menu"}: ${b.unhandled}, oldest ${duration(b.oldest_age_s)} old`,
    { "data-queue": queue })));
}
