// The dashboard's live parts: one websocket per page (/dashboard/ws, authenticated by the
// Django session cookie), QR images and countdown, status badges, the timeline, the event
// monitor, and "add a row" buttons of the session form. No build step, no dependencies.
(function () {
  "use strict";

  var body = document.body;
  var announcer = document.getElementById("announcer");

  function $(selector, root) { return (root || document).querySelector(selector); }
  function $all(selector, root) {
    return Array.prototype.slice.call((root || document).querySelectorAll(selector));
  }
  function attr(value) { return window.CSS && CSS.escape ? CSS.escape(value) : value; }
  function announce(text) { if (announcer) { announcer.textContent = text; } }
  function utc(ms) {
    return new Date(ms).toISOString().replace("T", " ").replace(/\.\d+Z$/, "") + " UTC";
  }
  function phoneOf(me) {
    var user = String((me && me.id) || "").split("@")[0];
    return /^\d+$/.test(user) ? "+" + user : user;
  }
  function badge(status) {
    var span = document.createElement("span");
    span.className = "badge badge-" + String(status).toLowerCase();
    span.textContent = status;
    return span;
  }

  // --- status ------------------------------------------------------------------------------
  var lastStatus = {};

  function onStatus(frame) {
    var name = frame.session;
    $all('[data-badge="' + attr(name) + '"]').forEach(function (el) {
      el.textContent = frame.status;
      el.className = "badge badge-" + frame.status.toLowerCase();
    });
    var row = $('[data-row="' + attr(name) + '"]');
    if (row) {
      $("[data-field=phone]", row).textContent = phoneOf(frame.me) || "—";
      $("[data-field=push-name]", row).textContent = (frame.me && frame.me.pushName) || "";
      var changed = $("[data-field=changed]", row);
      if (changed && frame.changedAt) {
        changed.textContent = utc(frame.changedAt);
        changed.setAttribute("datetime", new Date(frame.changedAt).toISOString());
      }
    } else {
      var notice = document.getElementById("new-sessions");  // only on the sessions list
      if (notice) { notice.hidden = false; }
    }
    if (lastStatus[name] !== undefined && lastStatus[name] !== frame.status) {
      announce("Session " + name + " is now " + frame.status);
    }
    lastStatus[name] = frame.status;
    if (body.dataset.live === name) { updateSessionPage(frame); }
  }

  function updateSessionPage(frame) {
    var me = frame.me || {};
    var facts = { phone: phoneOf(frame.me), pushName: me.pushName, jid: me.jid, lid: me.lid };
    Object.keys(facts).forEach(function (key) {
      var el = $('[data-me="' + key + '"]');
      if (el) { el.textContent = facts[key] || "—"; }
    });
    var error = document.getElementById("last-error");
    if (error && (frame.lastError || frame.status === "WORKING")) {
      error.textContent = frame.lastError || "None.";
      error.classList.toggle("muted", !frame.lastError);
    }
    if (frame.status !== "SCAN_QR_CODE") { hideQr(frame.status); }
    var pairing = document.getElementById("pairing");
    if (pairing && !$(".errorlist", pairing)) {
      // A pairing code can only be asked while the session waits for a scan.
      pairing.hidden = frame.status !== "STARTING" && frame.status !== "SCAN_QR_CODE";
    }
    var timeline = document.getElementById("timeline");
    var last = frame.statuses && frame.statuses[frame.statuses.length - 1];
    if (timeline && last && !$('[data-ts="' + last.timestamp + '"]', timeline)) {
      var empty = $("li.muted", timeline);
      if (empty) { empty.remove(); }
      var item = document.createElement("li");
      item.dataset.ts = String(last.timestamp);
      var time = document.createElement("time");
      time.setAttribute("datetime", new Date(last.timestamp).toISOString());
      time.textContent = utc(last.timestamp);
      item.appendChild(badge(last.status));
      item.appendChild(document.createTextNode(" "));
      item.appendChild(time);
      timeline.insertBefore(item, timeline.firstChild);
    }
  }

  // --- QR codes ----------------------------------------------------------------------------
  var qrDeadline = null;
  var QR_NONE = {
    WORKING: "Linked: no QR code needed.",
    STOPPED: "The session is stopped: start it to get a QR code.",
    FAILED: "The session failed: start it again for new QR codes.",
    STARTING: "Waiting for a QR code…"
  };

  function onQr(frame) {
    if (body.dataset.live !== frame.session) { return; }
    var box = document.getElementById("qr-box");
    var image = document.getElementById("qr-image");
    if (!box || !image) { return; }
    if (image.getAttribute("src") !== frame.dataUrl) {
      image.setAttribute("src", frame.dataUrl);
      announce("New QR code for " + frame.session);
    }
    box.hidden = false;
    $("#qr-none").hidden = true;
    qrDeadline = Date.now() + frame.expiresIn * 1000;
    tick();
  }

  function hideQr(status) {
    var box = document.getElementById("qr-box");
    var none = document.getElementById("qr-none");
    if (!box || !none) { return; }
    box.hidden = true;
    none.hidden = false;
    none.textContent = QR_NONE[status] || QR_NONE.STARTING;
    qrDeadline = null;
  }

  function tick() {
    var countdown = document.getElementById("qr-countdown");
    if (!countdown || qrDeadline === null) { return; }
    var left = Math.max(0, Math.ceil((qrDeadline - Date.now()) / 1000));
    countdown.textContent = left > 0 ? "Expires in " + left + " s"
      : "Expired; waiting for the next code…";
    countdown.classList.toggle("expired", left === 0);
  }

  function startCountdown() {
    var countdown = document.getElementById("qr-countdown");
    if (countdown && countdown.dataset.expiresIn) {
      qrDeadline = Date.now() + parseFloat(countdown.dataset.expiresIn) * 1000;
    }
    window.setInterval(tick, 250);
    tick();
  }

  // --- event monitor -----------------------------------------------------------------------
  var log = document.getElementById("event-log");
  var filter = document.getElementById("event-filter");
  var pauseButton = document.getElementById("pause");
  var counter = document.getElementById("event-count");
  var held = [];
  var shown = 0;

  function paused() { return pauseButton && pauseButton.getAttribute("aria-pressed") === "true"; }

  function matches(item) { return !filter || !filter.value || item.dataset.event === filter.value; }

  function onEvent(frame) {
    if (!log) { return; }
    if (paused()) {
      held.push(frame.envelope);
      pauseButton.textContent = "Resume (" + held.length + " new)";
      return;
    }
    addEvent(frame.envelope);
  }

  function addEvent(envelope) {
    var item = document.createElement("li");
    item.className = "event";
    item.dataset.event = envelope.event;
    var head = document.createElement("div");
    head.className = "event-head";
    var name = document.createElement("strong");
    name.textContent = envelope.event;
    var meta = document.createElement("span");
    meta.className = "muted";
    meta.textContent = envelope.session + " · " + utc(envelope.timestamp) + " · " + envelope.id;
    head.appendChild(name);
    head.appendChild(document.createTextNode(" "));
    head.appendChild(meta);
    var pre = document.createElement("pre");
    pre.textContent = JSON.stringify(envelope, null, 2);
    pre.tabIndex = 0;
    pre.setAttribute("aria-label", "Envelope of " + envelope.event + " " + envelope.id);
    item.appendChild(head);
    item.appendChild(pre);
    item.hidden = !matches(item);
    log.insertBefore(item, log.firstChild);
    var max = parseInt(log.dataset.max || "200", 10);
    while (log.children.length > max) { log.removeChild(log.lastChild); }
    shown += 1;
    updateCount();
  }

  function updateCount() {
    if (!counter) { return; }
    var visible = $all("li.event", log).filter(function (li) { return !li.hidden; }).length;
    counter.textContent = visible + " event" + (visible === 1 ? "" : "s") + " shown" +
      (filter && filter.value ? " (" + filter.value + ")" : "") + (paused() ? ", paused" : "");
  }

  function setupMonitor() {
    if (!log) { return; }
    if (pauseButton) {
      pauseButton.addEventListener("click", function () {
        var nowPaused = !paused();
        pauseButton.setAttribute("aria-pressed", nowPaused ? "true" : "false");
        if (!nowPaused) {
          held.splice(0).forEach(addEvent);
        }
        pauseButton.textContent = nowPaused ? "Resume" : "Pause";
        updateCount();
      });
    }
    if (filter) {
      filter.addEventListener("change", function () {
        $all("li.event", log).forEach(function (li) { li.hidden = !matches(li); });
        updateCount();
      });
    }
    var clear = document.getElementById("clear-events");
    if (clear) {
      clear.addEventListener("click", function () {
        log.textContent = "";
        held = [];
        updateCount();
      });
    }
    $all("select[data-autosubmit]").forEach(function (select) {
      select.addEventListener("change", function () { select.form.submit(); });
    });
  }

  // --- the websocket -----------------------------------------------------------------------
  var liveState = document.getElementById("live-state");
  var retryDelay = 1000;

  function setLiveState(state, text) {
    if (!liveState) { return; }
    liveState.dataset.state = state;
    liveState.textContent = text;
  }

  function connect() {
    var target = body.dataset.live;
    if (!target || !window.WebSocket) { return; }
    var scheme = location.protocol === "https:" ? "wss:" : "ws:";
    var url = scheme + "//" + location.host + (body.dataset.ws || "/dashboard/ws") +
      "?session=" + encodeURIComponent(target) + (body.dataset.liveEvents ? "&events=1" : "");
    var socket = new WebSocket(url);
    socket.addEventListener("open", function () {
      retryDelay = 1000;
      setLiveState("live", "Live");
    });
    socket.addEventListener("message", function (message) {
      var frame;
      try { frame = JSON.parse(message.data); } catch (e) { return; }
      if (frame.type === "status") { onStatus(frame); }
      else if (frame.type === "qr") { onQr(frame); }
      else if (frame.type === "event") { onEvent(frame); }
    });
    socket.addEventListener("close", function (event) {
      if (event.code === 4401) {
        location.href = (body.dataset.login || "/dashboard/login/") + "?next=" +
          encodeURIComponent(location.pathname + location.search);
        return;
      }
      setLiveState("offline", "Reconnecting…");
      window.setTimeout(connect, retryDelay);
      retryDelay = Math.min(retryDelay * 2, 15000);
    });
  }

  // --- forms: add a metadata pair or a webhook ------------------------------------------------
  function setupFormsets() {
    $all("[data-add-form]").forEach(function (button) {
      var prefix = button.dataset.addForm;
      var template = document.getElementById(prefix + "-empty");
      var total = document.getElementById("id_" + prefix + "-TOTAL_FORMS");
      var container = document.getElementById(prefix + "-forms");
      if (!template || !total || !container) { return; }
      button.addEventListener("click", function () {
        var index = parseInt(total.value, 10);
        var html = template.innerHTML.replace(/__prefix__/g, String(index));
        container.insertAdjacentHTML("beforeend", html);
        total.value = String(index + 1);
        var added = container.lastElementChild;
        var first = added && $("input:not([type=hidden]), select, textarea", added);
        if (first) { first.focus(); }
      });
    });
    var summary = document.getElementById("error-summary");
    if (summary) { summary.focus(); }
  }

  setupFormsets();
  setupMonitor();
  startCountdown();
  connect();
}());
