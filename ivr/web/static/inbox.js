// The agent's voicemail inbox and missed callers: GET /api/agent/voicemails and /missed;
// take, call back, done. New messages and hang-ups come with no routing event, so the
// lists are re-read every INBOX_EVERY_MS, when the tab comes back into view, and after each action.
"use strict";

const INBOX_EVERY_MS = 15000;
let inboxItems = [];

let missedItems = [];

async function refreshInbox() {
  try {
    inboxItems = (await api("GET", "/api/agent/voicemails")).voicemails;
    renderInbox();
    missedItems = (await api("GET", "/api/agent/missed")).missed;
    renderMissed();
  } catch (error) { console.warn(error); }
}

// Callers who hung up waiting in your queues and have not been in touch since.
function renderMissed() {
  document.getElementById("missed-empty").hidden = missedItems.length > 0;
  document.getElementById("missed-count").textContent = missedItems.length ? `(${missedItems.length})` : "";
  document.getElementById("missed-list").replaceChildren(...missedItems.map(missedItem));
}

function missedItem(m) {
  const li = el("li", null, { class: "missed", "data-call": m.id });
  const who = m.caller_name ? `${m.caller_name} (${m.caller})` : m.caller;
  const dl = el("dl", null, { class: "pop" });
  const data = Object.entries(m.data || {}).map(([k, value]) => [k.replaceAll("_", " "), value]);
  const rows = [["Caller", who], ["Language", m.language_name], ["Queue", m.queue_name],
    ["Hung up", `${duration(m.age_s)} ago, after ${duration(m.wait_s)} on hold`], ...data,
    ["Call-back", m.callback ? m.callback.state : null]];
  for (const [label, value] of rows) {
    if (value === undefined || value === null || value === "") continue;
    dl.append(el("dt", label), el("dd", value));
  }
  const back = el("button", m.callback ? "Called back" : "Call back",
    { type: "button", class: "btn btn-primary", "aria-label": `Call ${who} back` });
  back.disabled = Boolean(m.callback);
  back.addEventListener("click", () => inboxCallBack(`/api/agent/missed/${encodeURIComponent(m.id)}/callback`, who, back));
  const row = el("div", null, { class: "row" });
  row.append(back);
  li.append(dl, row);
  return li;
}

function renderInbox() {
  const list = document.getElementById("inbox-list");
  const playing = new Set([...list.querySelectorAll("audio")].filter((a) => !a.paused).map((a) => a.src));
  document.getElementById("inbox-empty").hidden = inboxItems.length > 0;
  document.getElementById("inbox-count").textContent = inboxItems.length ? `(${inboxItems.length})` : "";
  // A message being listened to keeps its player: re-rendering it would stop the sound.
  const kept = new Map([...list.children].filter((li) => playing.has(li.querySelector("audio")?.src))
    .map((li) => [li.dataset.voicemail, li]));
  list.replaceChildren(...inboxItems.map((v) => kept.get(v.id) || voicemailItem(v)));
}

function voicemailItem(v) {
  const li = el("li", null, { class: "voicemail", "data-voicemail": v.id });
  const who = v.caller_name ? `${v.caller_name} (${v.caller})` : v.caller;
  const left = new Date(v.at * 1000).toLocaleString([], { dateStyle: "short", timeStyle: "short" });
  const dl = el("dl", null, { class: "pop" });
  const data = Object.entries(v.data || {}).map(([k, value]) => [k.replaceAll("_", " "), value]);
  const rows = [["Caller", who], ["Language", v.language_name], ["Queue", v.queue_name || "Menu"],
    ["Left", `${left} (${duration(v.age_s)} ago)`], ["Length", `${v.duration_s} s`], ...data,
    ["Taken by", v.owner_name], ["Call-back", v.callback ? v.callback.state : null]];
  for (const [label, value] of rows) {
    if (value === undefined || value === null || value === "") continue;
    dl.append(el("dt", label), el("dd", value));
  }
  li.append(dl);
  if (v.recording) {
    const player = el("audio", null, { controls: "", preload: "none", src: v.recording,
      "aria-label": `Message from ${who}` });
    li.append(player);
  }
  li.append(voicemailActions(v, who));
  return li;
}

function voicemailActions(v, who) {
  const mine = v.owner === initialView().agent.id;
  const row = el("div", null, { class: "row" });
  const take = el("button", "Take", { type: "button", class: "btn", "aria-label": `Take the message from ${who}` });
  take.disabled = Boolean(v.owner);
  take.addEventListener("click", () => inboxAct(v, "assign", `You took the message from ${who}.`));
  const back = el("button", v.callback ? "Called back" : "Call back",
    { type: "button", class: "btn btn-primary", "aria-label": `Call ${who} back` });
  back.disabled = Boolean(v.callback) || (Boolean(v.owner) && !mine);
  back.addEventListener("click", () => inboxCallBack(`/api/agent/voicemails/${encodeURIComponent(v.id)}/callback`, who, back));
  const done = el("button", "Done", { type: "button", class: "btn btn-quiet", "aria-label": `Mark the message from ${who} done` });
  done.disabled = Boolean(v.owner) && !mine;
  done.addEventListener("click", () => inboxAct(v, "done", `The message from ${who} is done.`));
  row.append(take, back, done);
  return row;
}

async function inboxAct(v, action, said) {
  showError("inbox-error", null);
  try {
    await api("POST", `/api/agent/voicemails/${encodeURIComponent(v.id)}/${action}`);
    inboxSays(said);
  } catch (error) { showError("inbox-error", error); }
  await refreshInbox();
}

async function inboxCallBack(path, who, button) {
  button.disabled = true;  // one click, one callback (the server makes sure of it anyway)
  showError("inbox-error", null);
  try {
    const made = await api("POST", path);
    inboxSays(made.routed === "you"
      ? `Calling ${who} back: answer ${made.device}, then the customer is dialled.`
      : made.created ? `${who} will be called back by the next free agent of the queue.`
        : `${who} is already being called back.`);
  } catch (error) { showError("inbox-error", error); }
  await refreshInbox();
}

function inboxSays(text) {
  document.getElementById("inbox-status").textContent = text;
  announce(text);
}

refreshInbox();
setInterval(refreshInbox, INBOX_EVERY_MS);
document.addEventListener("visibilitychange", () => { if (!document.hidden) refreshInbox(); });
