// The agent console: renders GET /api/agent, acts through the API, re-reads on live events.
"use strict";

let view = initialView();
let readAt = performance.now();
let shownOffer = null;      // the offer id on screen
let handledOffer = null;    // the offer this page accepted or rejected
let beeper = null;
let audio = null;
let deviceRung = "";        // the device this page's accept rang, until the call connects
const PAGE_TITLE = document.title;

async function refresh() {
  try {
    view = await api("GET", "/api/agent");
    readAt = performance.now();
    render();
  } catch (error) { console.warn(error); }
}

function render() {
  const a = view.agent;
  const badge = document.getElementById("state");
  badge.textContent = a.state_label;
  badge.dataset.state = a.state;
  document.getElementById("state-text").textContent = a.state_label;
  document.getElementById("reason-text").textContent =
    a.reason ? ` (${a.reason})` : a.held ? " (held back briefly)" : "";
  document.getElementById("go-available").disabled = a.state === "available";
  renderOffer(view.offer);
  renderCall(view.call, a.state);
  renderStats(view.stats);
  tick();
}

function renderOffer(offer) {
  const card = document.getElementById("offer");
  if (!offer) {
    if (shownOffer && shownOffer !== handledOffer) {
      notice("The offer was withdrawn (it rang out, or the caller hung up).");
    }
    shownOffer = null;
    card.hidden = true;
    card.classList.remove("ringing");
    stopBeeping();
    offerEnded();
    return;
  }
  if (shownOffer !== offer.id) {
    shownOffer = offer.id;
    notice(null);
    const what = offer.callback ? "callback to" : "call from";
    announce(`Incoming ${offer.queue_name} ${what} ${offer.caller_label}`);
    startBeeping();
    offerStarted(offer);
  }
  card.hidden = false;
  card.classList.add("ringing");
  const callback = offer.callback
    ? `Yes: to ${offer.callback.number_label} (asked at ${new Date(offer.callback.requested_ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })})`
    : null;
  fillPop(document.getElementById("offer-pop"), offer, [
    ["Callback", callback],
    ["Caller", offer.caller_label],
    ["Language", offer.language_name],
    ["Queue", offer.queue_name],
    ["Menu path", (offer.menu_path || []).join(" › ")],
    ["Waited", duration(offer.wait_s)],
  ]);
  renderHistory(offer.history || []);
}

function fillPop(dl, who, rows) {
  dl.replaceChildren();
  const label = (key) => key.charAt(0).toUpperCase() + key.slice(1).replaceAll("_", " ");
  const data = Object.entries(who.data || {}).map(([k, v]) => [label(k), v]);
  for (const [label, value] of [...rows, ...data]) {
    if (value === undefined || value === null || value === "") continue;
    dl.append(el("dt", label), el("dd", value));
  }
}

function renderHistory(contacts) {
  const box = document.getElementById("offer-history");
  box.replaceChildren();
  if (!contacts.length) { box.append(el("p", "None — first contact.", { class: "muted" })); return; }
  const table = el("table");
  const head = el("tr");
  for (const h of ["Date", "Agent", "Disposition", "CES"]) head.append(el("th", h, { scope: "col" }));
  const thead = el("thead");
  thead.append(head);
  table.append(thead);
  const body = table.appendChild(el("tbody"));
  for (const c of contacts) {
    const row = el("tr");
    const when = new Date(c.at * 1000).toLocaleString();
    for (const v of [when, c.agent_name || c.agent, view.dispositions[c.disposition] || c.disposition, c.ces ?? "–"]) {
      row.append(el("td", v));
    }
    body.append(row);
  }
  box.append(table);
}

function renderCall(call, state) {
  const card = document.getElementById("call");
  const wrap = document.getElementById("wrap");
  card.hidden = !(call && state === "on_call");
  wrap.hidden = !(call && state !== "on_call");
  if (!call) { deviceRung = ""; return; }
  renderCallPhase(call);
  fillPop(document.getElementById("call-pop"), call, [
    ["Caller", call.caller_label],
    ["Language", call.language_name],
    ["Queue", call.queue_name],
    ["Menu path", (call.menu_path || []).join(" › ")],
  ]);
  const notes = document.getElementById("notes");
  if (document.activeElement !== notes && !notes.dataset.dirty) notes.value = call.notes || "";
  const wrapNotes = document.getElementById("wrap-notes");
  if (!wrapNotes.value) wrapNotes.value = notes.value || call.notes || "";
  document.getElementById("wrap-countdown-line").hidden = !view.wrap_up;
}

// The call header follows the call: ringing the agent's device, connected, on hold,
// wrapping up.
const PHASES = {
  connecting: "Connecting — answer your phone",
  connected: "Connected",
  on_hold: "On hold — the caller hears music",
  consulting: "Consulting — the caller is on hold",
  wrapping_up: "Wrapping up — the caller has left",
};
function renderCallPhase(call) {
  let phase = call.phase || (call.connected ? "connected" : "wrapping_up");
  if (phase === "connected" && PHASES[call.state] && call.state !== "connecting") phase = call.state;
  const title = document.getElementById("call-title");
  title.textContent = phase === "connecting" ? "Connecting" : `On a call with ${call.caller_label}`;
  const status = document.getElementById("call-state");
  status.textContent = PHASES[phase];
  status.dataset.phase = phase;
  renderControls(call, phase);
  if (phase !== "connecting") deviceRung = "";
  document.getElementById("call-device").textContent = deviceRung;
  document.getElementById("call-connecting").hidden = !deviceRung;
  document.getElementById("wrap-caller").textContent = call.caller_label;
}

function renderStats(stats) {
  document.getElementById("stat-handled").textContent = stats.handled;
  document.getElementById("stat-aht").textContent = stats.aht_s === null ? "–" : duration(stats.aht_s);
  document.getElementById("stat-frt").textContent =
    stats.frt_share === null ? "–" : `${Math.round(stats.frt_share * 100)}%`;
  document.getElementById("stat-ces").textContent = stats.ces === null ? "–" : stats.ces.toFixed(1);
}

// Counters move on between reads: server durations plus the wall time since.
function tick() {
  const dt = since(readAt);
  const a = view.agent;
  document.getElementById("in-state").textContent =
    a.in_state_s === null ? "–" : duration(a.in_state_s + dt);
  if (view.offer) {
    document.getElementById("offer-countdown").textContent =
      Math.max(0, Math.ceil(view.offer.remaining_s - dt));
  }
  if (view.call && a.state === "on_call") {
    document.getElementById("talk-time").textContent = duration(view.call.talk_s + dt);
  }
  if (view.wrap_up && view.wrap_up.remaining_s !== null) {
    document.getElementById("wrap-countdown").textContent =
      Math.max(0, Math.ceil(view.wrap_up.remaining_s - dt));
  }
}

function notice(text) {
  const box = document.getElementById("notice");
  box.textContent = text || "";
  box.hidden = !text;
  if (text) announce(text);
}

// -- sound: a short two-note chime every 2 s while an offer rings (WebAudio, no files,
// so the strict CSP needs no media source). Browsers keep audio silent until the page
// has had a click or key press: the first one unlocks it, so the first offer is heard.
const CHIME_EVERY_MS = 2000;
const CHIME_NOTES = [[880, 0], [660, 0.2]];  // Hz, start (s)

function audioContext() {
  audio = audio || new (window.AudioContext || window.webkitAudioContext)();
  if (audio.state === "suspended") audio.resume().catch(() => {});
  return audio;
}

function unlockAudio() {
  try { audioContext(); } catch (error) { /* no audio device */ }
}
document.addEventListener("pointerdown", unlockAudio, { capture: true });
document.addEventListener("keydown", unlockAudio, { capture: true });

function chime() {
  try {
    const ctx = audioContext(), t = ctx.currentTime;
    for (const [frequency, at] of CHIME_NOTES) {
      const osc = ctx.createOscillator(), gain = ctx.createGain();
      osc.frequency.value = frequency;
      gain.gain.setValueAtTime(0.0001, t + at);  // a soft attack and decay: no click
      gain.gain.exponentialRampToValueAtTime(0.2, t + at + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, t + at + 0.18);
      osc.connect(gain).connect(ctx.destination);
      osc.start(t + at);
      osc.stop(t + at + 0.2);
    }
  } catch (error) { /* no audio device: the title, card and notification still show */ }
}

function startBeeping() {
  stopBeeping();
  chime();
  beeper = setInterval(chime, CHIME_EVERY_MS);
}

function stopBeeping() { if (beeper) { clearInterval(beeper); beeper = null; } }

// -- an offer outside the page: the tab title and a desktop notification --------------
let desktopAlert = null;

function offerStarted(offer) {
  document.title = `● Call offered — ${offer.queue_name}`;
  if (!("Notification" in window) || Notification.permission !== "granted") return;
  closeDesktopAlert();
  try {
    desktopAlert = new Notification(`Call offered — ${offer.queue_name}`, {
      body: [offer.caller_label, (offer.menu_path || []).join(" › ")].filter(Boolean).join("\n"),
      tag: "ivr-offer",
      requireInteraction: true,
    });
    desktopAlert.onclick = () => { window.focus(); closeDesktopAlert(); };
  } catch (error) { desktopAlert = null; /* e.g. a browser that only notifies from workers */ }
}

function offerEnded() {
  document.title = PAGE_TITLE;
  closeDesktopAlert();
}

function closeDesktopAlert() { if (desktopAlert) { desktopAlert.close(); desktopAlert = null; } }

// Ask only when the agent presses the button (browsers ignore or punish asking on load).
function renderAlertsChoice() {
  const button = document.getElementById("desktop-alerts");
  const status = document.getElementById("desktop-alerts-status");
  if (!("Notification" in window)) { button.hidden = true; status.textContent = "This browser has no desktop notifications."; return; }
  button.hidden = Notification.permission !== "default";
  status.textContent = {
    granted: "Desktop notifications are on for offers.",
    denied: "Desktop notifications are blocked in this browser's site settings.",
    default: "Get a desktop notification when a call is offered, even from another tab.",
  }[Notification.permission];
}
document.getElementById("desktop-alerts").addEventListener("click", async () => {
  try { await Notification.requestPermission(); } catch (error) { console.warn(error); }
  renderAlertsChoice();
});

// -- actions ---------------------------------------------------------------------
async function act(errorId, work) {
  showError(errorId, null);
  try { await work(); } catch (error) { showError(errorId, error); }
  await refresh();
}

document.getElementById("go-available").addEventListener("click", () =>
  act("status-error", () => api("POST", "/api/agent/status", { status: "available" })));
document.getElementById("go-break").addEventListener("click", () =>
  act("status-error", () => api("POST", "/api/agent/status",
    { status: "break", reason: document.getElementById("break-reason").value })));
document.getElementById("go-offline").addEventListener("click", () =>
  act("status-error", () => api("POST", "/api/agent/status", { status: "offline" })));

// A second press (a double click, or the shortcut held) must not accept or decline twice.
const untouched = () => shownOffer && shownOffer !== handledOffer;

document.getElementById("accept").addEventListener("click", () => untouched() && act("status-error", async () => {
  handledOffer = shownOffer;
  stopBeeping();
  const result = await api("POST", `/api/agent/offers/${encodeURIComponent(shownOffer)}/accept`);
  deviceRung = softphoneReady ? "this page" : result.device;
}));
document.getElementById("reject").addEventListener("click", () => untouched() && act("status-error", async () => {
  handledOffer = shownOffer;
  stopBeeping();
  await api("POST", `/api/agent/offers/${encodeURIComponent(shownOffer)}/reject`);
}));

const notesBox = document.getElementById("notes");
notesBox.addEventListener("input", () => { notesBox.dataset.dirty = "1"; });
async function saveNotes() {
  if (!view.call) return;
  await api("PUT", `/api/agent/calls/${encodeURIComponent(view.call.call)}/notes`, { notes: notesBox.value });
  delete notesBox.dataset.dirty;
  document.getElementById("notes-saved").textContent = "Saved";
}
document.getElementById("save-notes").addEventListener("click", () => act("status-error", saveNotes));
notesBox.addEventListener("blur", () => { if (notesBox.dataset.dirty) saveNotes().catch(console.warn); });

document.getElementById("wrap-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const chosen = document.querySelector('input[name="disposition"]:checked');
  act("wrap-error", async () => {
    if (!chosen) throw new Error("Choose a disposition.");
    await api("POST", `/api/agent/calls/${encodeURIComponent(view.call.call)}/wrapup`,
      { disposition: chosen.value, notes: document.getElementById("wrap-notes").value });
    document.getElementById("wrap-form").reset();
    notesBox.value = "";
    announce("Wrapped up. Ready for the next call.");
  });
});

// -- call controls: hold and resume, mute and unmute, hang up, the keypad (issue 18) --------
// Each acts through the API on the agent's own call; the buttons say what a press does next.
let controlBusy = false;

function renderControls(call, phase) {
  const live = ["connected", "on_hold", "consulting"].includes(phase);
  const hold = document.getElementById("hold"), mute = document.getElementById("mute");
  hold.setAttribute("aria-pressed", String(Boolean(call.on_hold)));
  document.getElementById("hold-label").textContent = call.on_hold ? "Resume" : "Hold";
  mute.setAttribute("aria-pressed", String(Boolean(call.muted)));
  document.getElementById("mute-label").textContent = call.muted ? "Unmute" : "Mute";
  for (const button of document.querySelectorAll("#call-controls button, #keypad button")) {
    button.disabled = !live || controlBusy;
  }
  document.getElementById("keypad-toggle").disabled = !live;
  if (!live && phase !== "busy") delete document.getElementById("keypad-sent").dataset.sent;
}

function callPath(action) {
  return `/api/agent/calls/${encodeURIComponent(view.call.call)}/${action}`;
}

async function control(work) {
  if (!view.call || controlBusy) return;
  controlBusy = true;
  renderControls(view.call, "busy");
  try { await act("control-error", work); } finally {
    controlBusy = false;
    if (view.call) renderCallPhase(view.call);
  }
}

document.getElementById("hold").addEventListener("click", () => control(async () => {
  const on = !view.call.on_hold;
  await api("POST", callPath("hold"), { hold: on });
  announce(on ? "The caller is on hold." : "The caller is back with you.");
}));
document.getElementById("mute").addEventListener("click", () => control(async () => {
  const on = !view.call.muted;
  await api("POST", callPath("mute"), { mute: on });
  announce(on ? "You are muted." : "You are no longer muted.");
}));
document.getElementById("hangup").addEventListener("click", () => control(async () => {
  await api("POST", callPath("hangup"));
  announce("Call ended.");
}));
document.getElementById("keypad-toggle").addEventListener("click", (event) => {
  const pad = document.getElementById("keypad");
  pad.hidden = !pad.hidden;
  event.currentTarget.setAttribute("aria-expanded", String(!pad.hidden));
});
for (const key of document.querySelectorAll("#keypad button[data-digit]")) {
  key.addEventListener("click", () => control(async () => {
    await api("POST", callPath("digits"), { digits: key.dataset.digit });
    const sent = document.getElementById("keypad-sent");
    sent.textContent = `Sent ${sent.dataset.sent = (sent.dataset.sent || "") + key.dataset.digit}`;
  }));
}

// -- softphone: the Twilio Voice SDK when it loads and a token is issued; else the device --
let softphoneReady = false;
function softphoneSays(text) { document.getElementById("softphone").textContent = text; }

// Each message names the real cause: not set up on this service, the SDK not loaded, or
// no connection to Twilio. Only the last is a network problem.
function startSoftphone() {
  const phone = view.softphone;
  if (!phone.identity) { softphoneSays(`Calls ring your phone, ${view.agent.device}.`); return; }
  const fallback = `Calls will ring ${view.agent.device} instead.`;
  if (!phone.configured) {
    softphoneSays(`Softphone not configured: this service has no Twilio API key for it. ${fallback}`);
    return;
  }
  const script = document.createElement("script");
  script.src = document.getElementById("voice-sdk").dataset.url;
  script.async = true;
  script.onerror = () => softphoneSays(`Softphone unavailable: the Twilio Voice SDK did not load in this browser. ${fallback}`);
  script.onload = async () => {
    if (!window.Twilio || !window.Twilio.Device) { softphoneSays(`Softphone unavailable: the Twilio Voice SDK did not load in this browser. ${fallback}`); return; }
    try {
      const { token } = await api("GET", "/api/agent/token");
      const device = new window.Twilio.Device(token, { closeProtection: true });
      device.on("registered", () => { softphoneReady = true; softphoneSays("Softphone ready: calls ring in this page."); });
      device.on("unregistered", () => { softphoneReady = false; softphoneSays(`Softphone offline: no connection to Twilio. ${fallback}`); });
      device.on("error", (e) => { softphoneReady = false; softphoneSays(`Softphone error: ${e.message}${e.code ? ` (${e.code})` : ""}. ${fallback}`); });
      device.on("incoming", (call) => call.accept());  // only calls this agent accepted here
      device.on("tokenWillExpire", async () => device.updateToken((await api("GET", "/api/agent/token")).token));
      await device.register();
    } catch (error) {
      softphoneSays(`Softphone unavailable: ${error.message}. ${fallback}`);
    }
  };
  document.head.append(script);
}

render();
renderAlertsChoice();
setInterval(tick, 250);
live(refresh);
startSoftphone();
