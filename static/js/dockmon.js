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

  // Containers page: selection for bulk jobs, and the inputs each bulk action needs.
  function selectedBoxes() {
    return document.querySelectorAll('input[name="containers"][form="bulk-form"]:checked');
  }
  function refreshBulk() {
    const count = document.getElementById("selected-count");
    if (count) count.textContent = selectedBoxes().length;
    const action = document.querySelector('#bulk-form select[name="action"]');
    document.querySelectorAll("#bulk-form .bulk-extra").forEach(function (extra) {
      extra.classList.toggle("shown", !!action && extra.dataset.for.split(" ").includes(action.value));
    });
  }
  document.addEventListener("change", function (event) {
    if (event.target.id === "select-all") {
      document.querySelectorAll('input[name="containers"][form="bulk-form"]').forEach(function (box) {
        box.checked = event.target.checked;
      });
    }
    if (event.target.name === "kind" && event.target.form && event.target.form.id === "host-form") {
      event.target.form.dataset.hostKind = event.target.value;
    }
    refreshBulk();
  });
  document.addEventListener("htmx:afterSettle", refreshBulk);
  document.addEventListener("htmx:configRequest", function (event) {
    // A bulk job needs a selection; say so instead of sending an empty request.
    if (event.detail.elt.id === "bulk-form" && selectedBoxes().length === 0) {
      event.preventDefault();
      toast("Select one or more containers first.", "warning");
    }
  });
  document.addEventListener("DOMContentLoaded", function () {
    const kind = document.querySelector('#host-form input[name="kind"]:checked');
    if (kind) kind.form.dataset.hostKind = kind.value;
    refreshBulk();
  });

  // Times rendered once for everyone (and cached) become "3 hours" here, and stay current.
  function duration(seconds) {
    const units = [["day", 86400], ["hour", 3600], ["minute", 60]];
    for (const [name, size] of units) {
      if (seconds >= size) {
        const n = Math.floor(seconds / size);
        return n + " " + name + (n === 1 ? "" : "s");
      }
    }
    return "just now";
  }
  function refreshTimes() {
    const now = Date.now();
    document.querySelectorAll("time[data-since]").forEach(function (el) {
      const since = Date.parse(el.getAttribute("datetime"));
      if (!isNaN(since)) {
        if (!el.title) el.title = "since " + new Date(since).toLocaleString();
        el.textContent = duration(Math.max(0, (now - since) / 1000));
      }
    });
  }
  document.addEventListener("DOMContentLoaded", refreshTimes);
  document.addEventListener("htmx:afterSettle", refreshTimes);
  document.addEventListener("htmx:oobAfterSwap", refreshTimes);
  setInterval(refreshTimes, 30000);

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
