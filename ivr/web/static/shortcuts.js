// Keyboard shortcuts for the console pages, declared on the buttons themselves:
// <button data-shortcut="a" aria-keyshortcuts="A">Accept <kbd aria-hidden="true">A</kbd></button>.
// Pressing the key clicks the button, so a shortcut does exactly what the click does, and
// only while that button is shown and enabled. The scheme: A accept, D decline; on a call
// H hold or resume, M mute or unmute, X hang up.
// Never while typing in a field, and never with Ctrl, Alt or Cmd (the browser's own keys).
"use strict";

function typingIn(target) {
  return target instanceof Element &&
    Boolean(target.closest("input, textarea, select, [contenteditable]:not([contenteditable=false])"));
}

function shown(button) {
  return !button.disabled &&
    (button.checkVisibility ? button.checkVisibility() : button.offsetParent !== null);
}

document.addEventListener("keydown", (event) => {
  if (event.defaultPrevented || event.repeat || event.ctrlKey || event.altKey || event.metaKey) return;
  if (typingIn(event.target) || event.key.length !== 1) return;
  const key = event.key.toLowerCase();
  const button = [...document.querySelectorAll("button[data-shortcut]")]
    .find((b) => b.dataset.shortcut === key && shown(b));
  if (!button) return;
  event.preventDefault();
  button.click();
});
