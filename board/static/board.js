/* Live board: poll /board/changes every 3 s; when something changed, show what (built with
   textContent only) and refresh the server-rendered sections marked data-live.
   No inline scripts (CSP); no innerHTML with data. */
(function () {
  "use strict";
  var root = document.getElementById("board");
  if (!root) { return; }
  var POLL_MS = 3000;
  var cursor = root.dataset.cursor;
  var seen = new Set();
  var totals = { reports: 0, escalations: 0, acks: 0 };
  var liveText = document.getElementById("live-text");
  var liveItems = document.getElementById("live-items");
  var live = document.getElementById("live");
  var i18n = root.dataset;
  /* Attention: casualties (E2), skip-level (E3) and overdue acknowledgements (E4) arriving while
     nobody looks at the tab are counted in its title until someone does. */
  var SERIOUS = new Set(["E2", "E3", "E4"]);
  var baseTitle = document.title;
  var unseen = 0;

  function lookedAt() { return !document.hidden && document.hasFocus(); }

  /* ...and, when the officer asked for them, a sound (off by default; the choice is kept in
     localStorage) and a browser notification (opt-in: asked for by a click, never on load). */
  var SOUND_KEY = "zaibao.attention.sound", NOTIFY_KEY = "zaibao.attention.notify";
  var soundBox = document.getElementById("attention-sound");
  var notifyButton = document.getElementById("attention-notify");
  var audio = null;

  function stored(key) { try { return window.localStorage.getItem(key) === "1"; } catch (e) { return false; } }
  function store(key, on) { try { window.localStorage.setItem(key, on ? "1" : "0"); } catch (e) { /* private mode */ } }
  function count(name) { root.dataset[name] = String(Number(root.dataset[name] || 0) + 1); }

  function wakeAudio() {
    /* Browsers only let a page make sound after a click on it: build (or resume) it then. */
    var Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) { return null; }
    if (!audio) { audio = new Ctx(); }
    if (audio.state === "suspended") { audio.resume(); }
    return audio;
  }

  function beep() {
    var ctx = wakeAudio();
    count("attentionSounds");
    if (!ctx) { return; }
    [0, 0.35].forEach(function (at) {
      var osc = ctx.createOscillator(), gain = ctx.createGain();
      osc.frequency.value = 880;
      gain.gain.setValueAtTime(0.2, ctx.currentTime + at);
      gain.gain.exponentialRampToValueAtTime(0.001, ctx.currentTime + at + 0.3);
      osc.connect(gain).connect(ctx.destination);
      osc.start(ctx.currentTime + at);
      osc.stop(ctx.currentTime + at + 0.3);
    });
  }

  function notifyOn() {
    return stored(NOTIFY_KEY) && "Notification" in window && window.Notification.permission === "granted";
  }

  function showNotifyState() {
    if (!notifyButton) { return; }
    var on = notifyOn();
    notifyButton.textContent = on ? i18n.i18nNotifyOff : i18n.i18nNotifyOn;
    notifyButton.setAttribute("aria-pressed", on ? "true" : "false");
    notifyButton.hidden = !("Notification" in window) || window.Notification.permission === "denied";
  }

  if (soundBox) {
    soundBox.checked = stored(SOUND_KEY);
    soundBox.closest("p").hidden = false;
    soundBox.addEventListener("change", function () {
      store(SOUND_KEY, soundBox.checked);
      if (soundBox.checked) { wakeAudio(); }
    });
    document.addEventListener("click", function () { if (soundBox.checked && audio) { audio.resume(); } });
  }
  if (notifyButton) {
    showNotifyState();
    notifyButton.addEventListener("click", function () {
      if (notifyOn()) { store(NOTIFY_KEY, false); showNotifyState(); return; }
      window.Notification.requestPermission().then(function (answer) {
        store(NOTIFY_KEY, answer === "granted");
        showNotifyState();
      });
    });
  }

  function attend(items) {
    var serious = items.filter(function (it) { return it.type === "escalation" && SERIOUS.has(it.code); });
    if (!serious.length) { return; }
    if (soundBox && soundBox.checked) { beep(); }
    if (!lookedAt()) {
      unseen += serious.length;
      document.title = "(" + unseen + ") " + baseTitle;
      if (notifyOn()) {
        var note = new window.Notification(i18n.i18nAttention + " (" + serious.length + ")", {
          body: serious.map(describe).join("\n"), tag: "zaibao-attention", renotify: true });
        note.onclick = function () { window.focus(); note.close(); };
        count("attentionNotifications");
      }
    }
  }

  function seenNow() {
    if (lookedAt() && unseen) { unseen = 0; document.title = baseTitle; }
  }
  document.addEventListener("visibilitychange", seenNow);
  window.addEventListener("focus", seenNow);

  function describe(item) {
    if (item.type === "report") { return item.id + " " + item.village + " " + item.hazard; }
    if (item.type === "escalation") { return item.id + " " + item.rule + " " + item.village; }
    return item.id + " ✓ " + item.by;
  }

  function showItems(items) {
    items.forEach(function (item) {
      var li = document.createElement("li");
      li.className = "live-" + item.type;
      li.textContent = describe(item);
      liveItems.insertBefore(li, liveItems.firstChild);
    });
    while (liveItems.children.length > 12) { liveItems.removeChild(liveItems.lastChild); }
  }

  function busy(el) {
    /* Do not pull the table from under someone typing a reason or with an action menu open. */
    return el.contains(document.activeElement) && document.activeElement !== document.body ||
      el.querySelector("details[open] form") !== null;
  }

  function refreshSections() {
    return fetch(window.location.href, { credentials: "same-origin", headers: { "X-Board-Refresh": "1" } })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        document.querySelectorAll("[data-live]").forEach(function (el) {
          var fresh = doc.getElementById(el.id);
          if (!fresh || busy(el)) { return; }
          var open = [];
          el.querySelectorAll("details").forEach(function (d, i) { if (d.open) { open.push(i); } });
          if (el.tagName === "DETAILS" && el.open) { fresh.open = true; }
          var adopted = document.importNode(fresh, true);
          el.replaceWith(adopted);
          var ds = adopted.querySelectorAll("details");
          open.forEach(function (i) { if (ds[i]) { ds[i].open = true; } });
        });
        tickCountdowns();
        document.dispatchEvent(new CustomEvent("board:changed"));
      });
  }

  function poll() {
    var url = root.dataset.changesUrl + (root.dataset.changesUrl.indexOf("?") < 0 ? "?" : "&") +
      "since=" + encodeURIComponent(cursor);
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (data) {
        live.classList.remove("offline");
        cursor = data.cursor;
        var fresh = data.items.filter(function (it) { return !seen.has(it.key); });
        fresh.forEach(function (it) { seen.add(it.key); });
        attend(fresh);
        var acks = fresh.filter(function (it) { return it.type === "ack"; }).length;
        var changed = data.counts.reports + data.counts.escalations + acks;
        if (changed > 0) {
          totals.reports += data.counts.reports;
          totals.escalations += data.counts.escalations;
          totals.acks += acks;
          liveText.textContent = i18n.i18nUpdated + ": " + i18n.i18nReports + " " + totals.reports + " · " +
            i18n.i18nEscalations + " " + totals.escalations + " · " + i18n.i18nAcks + " " + totals.acks;
          live.classList.add("changed");
          showItems(fresh.reverse());
          return refreshSections();
        }
        return null;
      })
      .catch(function () { live.classList.add("offline"); liveText.textContent = i18n.i18nOffline; })
      .then(function () { window.setTimeout(poll, POLL_MS); });
  }

  function tickCountdowns() {
    var now = Date.now();
    document.querySelectorAll("time.countdown").forEach(function (t) {
      var left = Math.round((Date.parse(t.getAttribute("datetime")) - now) / 1000);
      var mins = Math.floor(Math.abs(left) / 60), secs = Math.abs(left) % 60;
      var text = mins + ":" + (secs < 10 ? "0" : "") + secs;
      t.textContent = left >= 0 ? i18n.i18nLeft + " " + text : i18n.i18nOverdue + " " + text;
      t.classList.toggle("overdue", left < 0);
    });
  }

  tickCountdowns();
  window.setInterval(tickCountdowns, 1000);
  window.setTimeout(poll, POLL_MS);
})();
