// Skyhook dashboard: progressive enhancement only; every page works without it.
"use strict";
document.addEventListener("click", async (ev) => {
  const btn = ev.target.closest("button[data-copy]");
  if (!btn) return;
  const el = document.getElementById(btn.dataset.copy);
  if (!el) return;
  const details = el.closest("details");
  if (details) details.open = true;
  try {
    await navigator.clipboard.writeText(el.textContent.trim());
    btn.textContent = "Copied";
  } catch (_) {
    // No clipboard access (plain http, old browser): select it for Ctrl+C.
    const range = document.createRange();
    range.selectNodeContents(el);
    const sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
    btn.textContent = "Selected";
  }
  setTimeout(() => { btn.textContent = "Copy"; }, 2000);
});
document.addEventListener("submit", (ev) => {
  const msg = ev.target.dataset.confirm;
  if (msg && !window.confirm(msg)) ev.preventDefault();
});
