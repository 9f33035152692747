// Transfers in the agent console: the Transfer dialog (a queue, an available agent, a
// phone number; warm for an agent), a consultation's Complete / Cancel, and what earlier
// agents handed over with the call. Loaded before agent.js, whose `view`, `act` and
// `refresh` these functions use when called (agent.js calls renderTransfer and
// renderHandoff from its render).
"use strict";

function renderHandoff(box, handoff) {
  box.replaceChildren();
  const given = handoff || [];
  box.hidden = !given.length;
  for (const h of given) {
    const line = el("p");
    line.append(el("strong", `Transferred by ${h.name}`));
    line.append(document.createTextNode(h.notes ? `: ${h.notes}` : " (no notes)"));
    box.append(line);
  }
}

// The call card's transfer parts follow the call: the Transfer button while connected,
// the consultation bar while consulting (the header says so too), nothing otherwise.
function renderTransfer(call, state) {
  const t = (call && call.transfer) || {};
  renderHandoff(document.getElementById("call-handoff"), t.handoff);
  const connected = Boolean(call) && state === "on_call" && call.phase === "connected";
  document.getElementById("transfer-open").hidden = !connected || Boolean(t.consulting || t.consulted_by);
  const bar = document.getElementById("consult-bar");
  bar.hidden = !(connected && t.consulting);
  const status = document.getElementById("call-state");
  if (connected && t.consulting) {
    document.getElementById("consult-text").textContent =
      `Consulting ${t.consulting.name} — the caller is on hold and hears music.`;
    status.textContent = `Consulting ${t.consulting.name} — caller on hold`;
    status.dataset.phase = "consulting";
  } else if (connected && t.consulted_by) {
    status.textContent = `${t.consulted_by.name} is consulting you about this caller`;
    status.dataset.phase = "consulting";
  }
  if (!connected) closeTransferDialog();
  if (t.transferred) preselect("transferred");
}

// After a transfer the wrap-up form starts on "Transferred" (the agent can still change it).
function preselect(disposition) {
  if (document.querySelector('input[name="disposition"]:checked')) return;
  const choice = document.querySelector(`input[name="disposition"][value="${disposition}"]`);
  if (choice) choice.checked = true;
}

function transferKind() {
  return document.querySelector('input[name="transfer-to"]:checked').value;
}

function showTransferRows() {
  const kind = transferKind();
  for (const k of ["queue", "agent", "number"]) {
    document.getElementById(`transfer-${k}-row`).hidden = kind !== k;
  }
}

function fillSelect(select, items, empty) {
  select.replaceChildren();
  for (const item of items) select.append(el("option", item.name, { value: item.id }));
  if (!items.length) select.append(el("option", empty, { value: "" }));
}

async function openTransferDialog() {
  showError("transfer-error", null);
  showError("transfer-dialog-error", null);
  try {
    const targets = await api("GET", "/api/agent/transfer/targets");
    const queues = targets.queues.map((q) => ({ id: q.id, name: q.staffed ? q.name : `${q.name} (nobody taking calls)` }));
    fillSelect(document.getElementById("transfer-queue"), queues, "No queues");
    fillSelect(document.getElementById("transfer-agent"), targets.agents, "Nobody is available");
  } catch (error) { showError("transfer-error", error); return; }
  showTransferRows();
  document.getElementById("transfer-dialog").showModal();
}

function closeTransferDialog() {
  const dialog = document.getElementById("transfer-dialog");
  if (dialog.open) dialog.close();
}

function transferBody() {
  const to = transferKind();
  const target = {
    queue: () => document.getElementById("transfer-queue").value,
    agent: () => document.getElementById("transfer-agent").value,
    number: () => document.getElementById("transfer-number").value.trim(),
  }[to]();
  if (!target) throw new Error(to === "number" ? "Type the number to transfer to." : `Choose ${to === "queue" ? "a queue" : "an agent"}.`);
  const warm = to === "agent" && document.getElementById("transfer-warm").checked;
  return { to, target, warm, notes: document.getElementById("notes").value };
}

async function submitTransfer(event) {
  event.preventDefault();
  showError("transfer-dialog-error", null);
  const call = view.call && view.call.call;
  try {
    const body = transferBody();
    await api("POST", `/api/agent/calls/${encodeURIComponent(call)}/transfer`, body);
    closeTransferDialog();
    announce(body.warm ? "Consulting: the caller is on hold." : "Transferred. Wrap up the call.");
  } catch (error) { showError("transfer-dialog-error", error); return; }
  await refresh();
}

function consultAction(action) {
  const call = view.call && view.call.call;
  return act("transfer-error", () =>
    api("POST", `/api/agent/calls/${encodeURIComponent(call)}/transfer/${action}`));
}

document.getElementById("transfer-open").addEventListener("click", openTransferDialog);
document.getElementById("transfer-close").addEventListener("click", closeTransferDialog);
document.getElementById("transfer-form").addEventListener("submit", submitTransfer);
for (const radio of document.querySelectorAll('input[name="transfer-to"]')) {
  radio.addEventListener("change", showTransferRows);
}
document.getElementById("consult-complete").addEventListener("click", () => consultAction("complete"));
document.getElementById("consult-cancel").addEventListener("click", () => consultAction("cancel"));
