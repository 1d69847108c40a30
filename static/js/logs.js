// The container page's log panel: the last lines, then a live follow over a WebSocket.
// Protocol and flow control: apps/containers/consumers.py. Log text only ever goes into text nodes.
(function () {
  "use strict";

  const MARGIN = 1000; // lines kept beyond the requested number before the oldest go
  const RETRY_FIRST = 1000;
  const RETRY_MAX = 30000;
  const STEADY = 10000; // ms: a connection that lasted this long starts any later back-off afresh
  const FILTER_DELAY = 400; // ms of quiet typing before the filter is applied
  const BOTTOM_SLACK = 8; // px: "at the bottom" despite rounding
  const FINAL = { stopped: true, done: true }; // statuses after which we do not reconnect by ourselves

  function setup(section) {
    const output = section.querySelector('[data-role="output"]');
    const status = section.querySelector('[data-role="status"]');
    const download = section.querySelector('[data-role="download"]');
    const scrollButton = section.querySelector('[data-action="scroll"]');
    const field = function (name) { return section.querySelector('[name="' + name + '"]'); };
    const tail = field("tail");
    const timestamps = field("timestamps");
    const follow = field("follow");
    const filter = field("filter");
    const regex = field("regex");

    let socket = null;
    let finished = false; // the server said its last word: a close is expected, not a failure
    let ended = ""; // the server's "ended" message: its stream stopped although the container runs
    let retryDelay = RETRY_FIRST;
    let retryTimer = 0;
    let filterTimer = 0;
    let autoscroll = true;
    let count = 0;

    function setStatus(text, level) {
      status.textContent = text;
      status.dataset.level = level || "";
    }

    function setAutoscroll(on) {
      autoscroll = on;
      scrollButton.textContent = on ? "Pause scrolling" : "Resume scrolling";
      scrollButton.setAttribute("aria-pressed", on ? "false" : "true");
      if (on) output.scrollTop = output.scrollHeight;
    }

    function clear() {
      output.textContent = "";
      count = 0;
    }

    function syncDownload() {
      const url = new URL(download.href, location.href);
      url.search = new URLSearchParams({ tail: tail.value, timestamps: timestamps.checked ? "1" : "0" }).toString();
      download.href = url.pathname + url.search;
    }

    function append(lines) {
      const fragment = document.createDocumentFragment();
      lines.forEach(function (line) { fragment.append(document.createTextNode(line + "\n")); });
      output.append(fragment);
      count += lines.length;
      // A chatty container must not grow the page without bound: drop the oldest lines.
      const limit = Number(tail.value) + MARGIN;
      if (count > limit) {
        const height = output.scrollHeight;
        for (; count > limit && output.firstChild; count--) output.firstChild.remove();
        // Keep what a reader who scrolled up is looking at where it was.
        if (!autoscroll) output.scrollTop -= height - output.scrollHeight;
      }
      if (autoscroll) output.scrollTop = output.scrollHeight;
    }

    function query() {
      return new URLSearchParams({
        tail: tail.value,
        timestamps: timestamps.checked ? "1" : "0",
        follow: follow.checked ? "1" : "0",
        filter: filter.value,
        regex: regex.checked ? "1" : "0",
      }).toString();
    }

    function disconnect() {
      clearTimeout(retryTimer);
      if (socket) {
        const old = socket;
        socket = null; // its close event is then ignored
        old.close();
      }
    }

    function connect() {
      disconnect();
      clear();
      finished = false;
      ended = "";
      output.dataset.empty = filter.value ? "No lines match the filter." : "No lines yet.";
      setStatus("Connecting…", "");
      const scheme = location.protocol === "https:" ? "wss://" : "ws://";
      const current = new WebSocket(scheme + location.host + section.dataset.logsSocket + "?" + query());
      const opened = Date.now();
      socket = current;
      current.onmessage = function (event) {
        if (current !== socket) return;
        const message = JSON.parse(event.data);
        if (message.type === "lines") {
          append(message.lines);
          // The server sends only a few batches ahead of these acknowledgements (back-pressure).
          current.send('{"type":"ack"}');
        } else if (message.type === "status") {
          finished = !!FINAL[message.state];
          if (message.state === "ended") ended = message.message;
          setStatus(message.message, message.state === "following" ? "live" : "");
        } else if (message.type === "error") {
          finished = true;
          output.dataset.empty = ""; // the status line says what went wrong
          setStatus(message.message, "error");
        }
      };
      current.onclose = function () {
        if (current !== socket) return;
        socket = null;
        // Not after the server's last word. A refused handshake (signed out) lands here too, as 1006.
        if (finished) return;
        if (Date.now() - opened > STEADY) retryDelay = RETRY_FIRST;
        const seconds = Math.round(retryDelay / 1000);
        setStatus((ended || "The connection was lost.") + " Reconnecting in " + seconds + " s…", "warn");
        retryTimer = setTimeout(connect, retryDelay);
        retryDelay = Math.min(retryDelay * 2, RETRY_MAX);
      };
    }

    function restart() {
      retryDelay = RETRY_FIRST;
      connect();
    }

    function changed() {
      clearTimeout(filterTimer);
      syncDownload();
      restart();
    }

    section.addEventListener("change", function (event) {
      if (event.target.matches("select, input[type=checkbox]")) changed();
    });
    filter.addEventListener("input", function () {
      clearTimeout(filterTimer);
      filterTimer = setTimeout(changed, FILTER_DELAY);
    });
    filter.addEventListener("keydown", function (event) {
      if (event.key === "Enter") changed();
    });
    section.addEventListener("click", function (event) {
      const button = event.target.closest("button[data-action]");
      if (!button) return;
      if (button.dataset.action === "scroll") setAutoscroll(!autoscroll);
      if (button.dataset.action === "clear") clear();
      if (button.dataset.action === "reconnect") restart();
    });
    // Scrolling up stops the autoscroll; scrolling back to the bottom resumes it.
    output.addEventListener("scroll", function () {
      const atBottom = output.scrollHeight - output.scrollTop - output.clientHeight <= BOTTOM_SLACK;
      if (atBottom !== autoscroll) setAutoscroll(atBottom);
    });

    syncDownload();
    // Open the stream only once the panel is in view: the page may be opened for something else.
    if ("IntersectionObserver" in window) {
      const observer = new IntersectionObserver(function (entries) {
        if (entries.some(function (entry) { return entry.isIntersecting; })) {
          observer.disconnect();
          connect();
        }
      });
      observer.observe(section);
    } else {
      connect();
    }
  }

  function setupAll() {
    document.querySelectorAll("section[data-logs-socket]").forEach(function (section) {
      if (section.dataset.logsReady) return;
      section.dataset.logsReady = "1";
      setup(section);
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", setupAll);
  else setupAll();
})();
