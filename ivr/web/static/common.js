// Shared by the console pages: the JSON API, the live stream, and time formatting.
// Durations come from the server (its clock may not be wall time); the page only
// adds the wall seconds since it last read them.
"use strict";

const csrfToken = document.querySelector('meta[name="csrf-token"]')?.content || "";

async function api(method, path, body) {
  const options = { method, headers: { "X-CSRF-Token": csrfToken }, credentials: "same-origin" };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(path, options);
  if (response.status === 401) { window.location.assign("/login"); throw new Error("logged out"); }
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (!response.ok) { throw new Error((data && data.error) || response.statusText); }
  return data;
}

function initialView() {
  return JSON.parse(document.getElementById("initial-view").textContent);
}

const LIVE_RETRY_MS = 5000;  // how soon a page whose live stream was refused tries again

// Re-read the view on every routing event (debounced), and once per (re)connection.
function live(onChange) {
  const status = document.getElementById("live-status");
  let timer = null;
  const soon = () => { clearTimeout(timer); timer = setTimeout(onChange, 50); };
  const connect = () => {
    const source = new EventSource("/api/live");
    source.addEventListener("hello", () => { status.textContent = "live"; soon(); });
    source.addEventListener("change", soon);
    source.onerror = () => {
      status.textContent = "reconnecting…";
      // A refused reconnect (503 while the store is down) closes an EventSource for good.
      if (source.readyState === EventSource.CLOSED) setTimeout(connect, LIVE_RETRY_MS);
    };
  };
  connect();
}

function since(readAt) { return (performance.now() - readAt) / 1000; }

function duration(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  const mm = String(m).padStart(2, "0"), ss = String(r).padStart(2, "0");
  return h ? `${h}:${mm}:${ss}` : `${m}:${ss}`;
}

function el(tag, text, attrs) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  return node;
}

function announce(text) { document.getElementById("announce").textContent = text; }

function showError(id, error) {
  const node = document.getElementById(id);
  node.textContent = error ? String(error.message || error) : "";
  node.hidden = !error;
}
