// DockMon's small page behaviours: theme, toasts, confirmations, htmx error feedback.
(function () {
  "use strict";
  const root = document.documentElement;
  const darkQuery = window.matchMedia("(prefers-color-scheme: dark)");

  function effectiveTheme() {
    const chosen = root.dataset.theme;
    if (chosen === "light" || chosen === "dark") return chosen;
    return darkQuery.matches ? "dark" : "light";
  }

  function toast(text, level) {
    const box = document.getElementById("toasts");
    if (!box) return;
    const item = document.createElement("div");
    item.className = "toast toast-" + (level || "info");
    item.setAttribute("role", "status");
    const span = document.createElement("span");
    span.textContent = text;
    const close = document.createElement("button");
    close.type = "button";
    close.className = "toast-close";
    close.setAttribute("aria-label", "Dismiss");
    close.textContent = "×";
    item.append(span, close);
    box.append(item);
    arm(item);
  }

  // Toasts fade after a while unless they report an error, which stays until dismissed.
  function arm(item) {
    if (item.dataset.armed) return;
    item.dataset.armed = "1";
    if (!item.classList.contains("toast-error")) {
      setTimeout(function () { item.remove(); }, 6000);
    }
  }

  function armAll() {
    document.querySelectorAll("#toasts .toast").forEach(arm);
  }

  window.dockmon = {
    nextTheme: function () { return effectiveTheme() === "dark" ? "light" : "dark"; },
    toast: toast,
  };

  document.addEventListener("DOMContentLoaded", armAll);
  document.addEventListener("htmx:afterSettle", armAll);
  document.addEventListener("htmx:oobAfterSwap", armAll);

  document.addEventListener("click", function (event) {
    const close = event.target.closest(".toast-close");
    if (close) close.closest(".toast").remove();
    // Close the user menu when clicking elsewhere.
    const menu = document.getElementById("user-menu");
    if (menu && menu.open && !menu.contains(event.target)) menu.open = false;
  });

  document.addEventListener("submit", function (event) {
    const form = event.target;
    if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) event.preventDefault();
  }, true);

  // The server answers theme changes with an HX-Trigger event carrying the new theme.
  document.addEventListener("dockmon:theme", function (event) {
    root.dataset.theme = event.detail.value;
  });

  // The live dot in the top bar tells whether pushed updates are arriving.
  function setLive(state) {
    document.body.dataset.live = state;
    const dot = document.getElementById("live-indicator");
    if (dot) dot.title = state === "on" ? "Live updates on" : "Live updates paused: reconnecting…";
  }
  document.addEventListener("htmx:wsOpen", function () { setLive("on"); });
  document.addEventListener("htmx:wsClose", function () { setLive("off"); });

  document.addEventListener("htmx:responseError", function (event) {
    const xhr = event.detail.xhr;
    const type = xhr.getResponseHeader("Content-Type") || "";
    const text = type.startsWith("text/plain") && xhr.responseText ? xhr.responseText : "The request failed (" + xhr.status + ").";
    toast(text, "error");
  });
  document.addEventListener("htmx:sendError", function () {
    toast("DockMon cannot be reached. Check your connection.", "error");
  });
})();
