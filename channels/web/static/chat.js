/* The web chat page: shows the conversation, sends what the visitor writes, presses or
   attaches, and listens for answers. Everything the visitor sends waits in this page's
   storage until the server says it is stored, so a reload or a lost connection loses
   nothing. In the widget's frame the token also lives with the embedding page. */
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("chat-config").textContent);
  var T = config.texts;
  var KEY = "complaintbot-chat";
  var embedded = document.body.classList.contains("embedded");
  var state = load();
  var log = document.getElementById("log");
  var statusLine = document.getElementById("status");
  var compose = document.getElementById("compose");
  var text = document.getElementById("text");
  var fileInput = document.getElementById("file");
  var consent = document.getElementById("consent");
  var shown = {};       // message ids and refs already on the page
  var after = 0;        // the last stored message shown
  var typing = null;
  var sending = false;
  var streamAbort = null;

  // A link mailed to the visitor (#resume=<token>) opens its conversation here: the
  // page keeps that token instead of its own, and the address forgets it.
  var resume = /^#resume=([A-Za-z0-9_.-]+)$/.exec(location.hash);
  if (resume) {
    if (state.token !== resume[1]) { state.token = resume[1]; state.pending = []; }
    save();
    history.replaceState(null, "", location.pathname + location.search);
  }

  function load() {
    try { return JSON.parse(localStorage.getItem(KEY)) || {}; } catch (e) { return {}; }
  }
  function save() {
    try { localStorage.setItem(KEY, JSON.stringify(state)); } catch (e) { /* private mode */ }
    if (embedded && state.token && window.parent !== window) {
      window.parent.postMessage(
        { type: "complaintbot-token", token: state.token, consent: state.consent || null }, "*");
    }
  }
  function headers(json) {
    var h = {};
    if (state.token) { h["X-Chat-Token"] = state.token; }
    if (json) { h["Content-Type"] = "application/json"; }
    return h;
  }
  function post(path, body) {
    return fetch("/chat/api/" + path, {
      method: "POST", headers: headers(true), credentials: "same-origin",
      body: JSON.stringify(body || {})
    });
  }
  function newId() {
    var a = new Uint8Array(12);
    crypto.getRandomValues(a);
    return Array.prototype.map.call(a, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }
  function say(message) {
    statusLine.textContent = message || "";
    statusLine.hidden = !message;
  }

  // ----- showing messages -----------------------------------------------------------
  function bubble(dir, key) {
    var li = document.createElement("li");
    li.className = "msg " + dir;
    if (key) { li.dataset.key = key; }
    var who = document.createElement("span");
    who.className = "visually-hidden";
    who.textContent = (dir === "out" ? T.us : T.you) + ": ";
    li.appendChild(who);
    return li;
  }
  // Addresses in the bot's own messages (the survey's page) become links, built as
  // elements: no text is ever parsed as HTML. A person's own text stays plain.
  var ADDRESS = /https?:\/\/[^\s<>"]+/g;
  function addText(li, value, withLinks) {
    var p = document.createElement("p");
    var text = String(value || "");
    var at = 0;
    (withLinks ? text.match(ADDRESS) || [] : []).forEach(function (address) {
      var start = text.indexOf(address, at);
      p.appendChild(document.createTextNode(text.slice(at, start)));
      var a = document.createElement("a");
      a.href = address; a.textContent = address;
      a.target = "_blank"; a.rel = "noopener noreferrer";
      p.appendChild(a);
      at = start + address.length;
    });
    p.appendChild(document.createTextNode(text.slice(at)));
    li.appendChild(p);
  }
  function show(entry) {
    if (entry.id && entry.id > after) { after = entry.id; }
    var key = entry.dir === "out" ? entry.ref : entry.mid;
    if (key && shown[key]) {
      return;
    }
    if (key) { shown[key] = true; }
    if (entry.dir === "in" && entry.text === "/start") { return; }  // the page's own hello
    if (entry.dir === "in") {
      var mine = bubble("in", key);
      addText(mine, entry.file ? T.file + ": " + entry.file.name : entry.text);
      log.appendChild(mine);
    } else {
      stopTyping();
      var li = bubble("out", key);
      addText(li, entry.text, true);
      (entry.files || []).forEach(function (f) { addText(li, T.file + ": " + f.name); });
      if (entry.buttons && entry.buttons.length) { li.appendChild(buttons(entry)); }
      if (entry.contact) { li.appendChild(phoneField(entry.contact)); }
      var old = entry.edit && log.querySelector('[data-key="' + CSS.escape(entry.edit) + '"]');
      if (old) { old.replaceWith(li); } else { log.appendChild(li); }
      disableOlder(li);
    }
    log.scrollTop = log.scrollHeight;
  }
  function buttons(entry) {
    var box = document.createElement("div");
    box.className = "buttons";
    entry.buttons.forEach(function (row) {
      var r = document.createElement("div");
      r.className = "row";
      row.forEach(function (b) {
        var el = document.createElement("button");
        el.type = "button";
        el.textContent = b.label;
        el.addEventListener("click", function () {
          box.querySelectorAll("button").forEach(function (x) { x.disabled = true; });
          queue({ kind: "button", data: b.data, label: b.label, on: entry.ref });
        });
        r.appendChild(el);
      });
      box.appendChild(r);
    });
    return box;
  }
  function phoneField(label) {
    var form = document.createElement("form");
    form.className = "phone";
    var id = "phone-" + newId();
    var l = document.createElement("label");
    l.htmlFor = id;
    l.textContent = T.phone;
    var input = document.createElement("input");
    input.type = "tel"; input.id = id; input.value = "+86 "; input.autocomplete = "tel";
    input.inputMode = "tel";
    var b = document.createElement("button");
    b.type = "submit"; b.textContent = label || T.phone_send;
    form.append(l, input, b);
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var number = input.value.trim();
      if (number.replace(/\D/g, "").length < 5) { input.focus(); return; }
      form.querySelectorAll("input,button").forEach(function (x) { x.disabled = true; });
      queue({ kind: "contact", phone: number });
    });
    return form;
  }
  function disableOlder(latest) {
    log.querySelectorAll(".msg.out").forEach(function (li) {
      if (li !== latest) {
        li.querySelectorAll(".buttons button, form.phone input, form.phone button")
          .forEach(function (x) { x.disabled = true; });
      }
    });
  }
  function startTyping() {
    stopTyping();
    typing = document.createElement("li");
    typing.className = "msg out typing";
    typing.textContent = T.typing;
    log.appendChild(typing);
    log.scrollTop = log.scrollHeight;
    setTimeout(stopTyping, 15000);
  }
  function stopTyping() {
    if (typing) { typing.remove(); typing = null; }
  }

  // ----- sending: every message waits in storage until the server has it ------------
  function queue(message, silent) {
    message.id = newId();
    message.lang = config.lang;
    message.consent = state.consent;
    state.pending = (state.pending || []).concat([message]);
    save();
    if (silent) {
      shown[message.id] = true;
      message.silent = true;
    } else {
      show({ dir: "in", mid: message.id, text: message.label || message.phone || message.text });
    }
    flush();
  }
  function flush() {
    if (sending || !(state.pending || []).length) { return; }
    sending = true;
    var message = state.pending[0];
    ensureToken().then(function () {
      // `after`: the answer comes back in the response, the stream or no stream.
      return post("send", Object.assign({ after: after }, message));
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (body) {
        return { status: response.status, body: body };
      });
    }).then(function (result) {
      sending = false;
      if (result.status === 200 || result.status === 400) {
        state.pending.shift(); save();
        say(result.status === 400 ? result.body.error : "");
        if (result.status === 200) { answered(result.body); }
        flush();
      } else {
        say(result.body.error || T.retrying);
        setTimeout(flush, 1000 * (result.body.retry_after || 2));
      }
    }, function () {
      sending = false;
      say(T.retrying);
      setTimeout(flush, 2000);
    });
  }
  // What the bot answered, in the response; "Typing…" only while nothing has come.
  function answered(body) {
    startTyping();
    (body.entries || []).forEach(show);
    if (!typing) { markSeen(); }
  }
  function ensureToken() {
    if (state.token) { return Promise.resolve(); }
    return post("session", { begin: true, lang: config.lang }).then(function (r) {
      return r.json().then(function (body) {
        if (!body.token) { throw new Error(body.error || "no token"); }
        state.token = body.token; save(); listen();
      });
    });
  }
  function sendFile(file) {
    if (file.size > config.maxUploadBytes) { say(T.too_large); return; }
    var id = newId();
    var li = bubble("in", id);
    addText(li, T.file + ": " + file.name);
    log.appendChild(li);
    shown[id] = true;
    ensureToken().then(function () {
      var form = new FormData();
      form.append("id", id);
      form.append("lang", config.lang);
      form.append("after", after);
      if (state.consent) { form.append("consent", state.consent); }
      form.append("file", file, file.name);
      return fetch("/chat/api/upload", { method: "POST", headers: headers(false), body: form, credentials: "same-origin" });
    }).then(function (response) {
      return response.json().then(function (body) {
        if (response.status === 200) { say(""); answered(body); } else { li.classList.add("failed"); say(body.error); }
      });
    }, function () { li.classList.add("failed"); say(T.offline); });
  }

  // ----- listening ------------------------------------------------------------------
  function listen() {
    if (!state.token || streamAbort) { return; }
    var controller = new AbortController();
    streamAbort = controller;
    fetch("/chat/api/events?after=" + after, { headers: headers(false), signal: controller.signal, credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok || !response.body) { throw new Error("stream " + response.status); }
        say("");
        var reader = response.body.getReader();
        var decoder = new TextDecoder();
        var buffer = "";
        function pump() {
          return reader.read().then(function (part) {
            if (part.done) { return; }
            buffer += decoder.decode(part.value, { stream: true });
            var events = buffer.split("\n\n");
            buffer = events.pop();
            events.forEach(function (ev) {
              ev.split("\n").forEach(function (line) {
                if (line.indexOf("data: ") === 0) { show(JSON.parse(line.slice(6))); }
              });
            });
            markSeen();
            return pump();
          });
        }
        return pump();
      })
      .then(function () { streamAbort = null; setTimeout(listen, 500); },
            function () { streamAbort = null; say(T.offline); setTimeout(listen, 3000); });
  }
  var seenTimer = null;
  function markSeen() {
    if (seenTimer || document.hidden) { return; }
    seenTimer = setTimeout(function () {
      seenTimer = null;
      post("seen", { id: after }).catch(function () {});
    }, 500);
  }
  document.addEventListener("visibilitychange", function () { if (!document.hidden) { markSeen(); } });

  // ----- start ----------------------------------------------------------------------
  function open() {
    consent.hidden = true;
    log.hidden = false;
    compose.hidden = false;
    return post("session", { lang: config.lang }).then(function (r) { return r.json(); }).then(function (body) {
      if (body.token) { state.token = body.token; save(); }
      // A token that opens nothing (a link expired or altered): begin anew.
      else if (body.ok && state.token) { state.token = null; save(); }
      (body.entries || []).forEach(show);
      after = Math.max(after, body.after || 0);
      (state.pending || []).forEach(function (m) {
        if (m.silent) { shown[m.id] = true; return; }
        show({ dir: "in", mid: m.id, text: m.label || m.phone || m.text });
      });
      if (!(body.entries || []).length && !(state.pending || []).length) {
        queue({ kind: "text", text: "/start" }, true);
      }
      listen();
      flush();
      text.focus();
    }, function () { say(T.offline); setTimeout(open, 3000); });
  }
  document.getElementById("agree").addEventListener("click", function () {
    state.consent = config.version;
    save();
    open();
  });
  compose.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var value = text.value.trim();
    if (!value) { return; }
    text.value = "";
    queue({ kind: "text", text: value });
  });
  text.addEventListener("keydown", function (ev) {
    if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      compose.requestSubmit();
    }
  });
  fileInput.addEventListener("change", function () {
    if (fileInput.files[0]) { sendFile(fileInput.files[0]); }
    fileInput.value = "";
  });
  window.addEventListener("online", function () { flush(); listen(); });

  function begin() {
    if (state.consent === config.version) { open(); } else { consent.hidden = false; }
  }
  if (embedded && window.parent !== window) {
    // The embedding page keeps the token (its own storage outlives this frame's).
    var waited = false;
    window.addEventListener("message", function (ev) {
      if (config.origins.indexOf(ev.origin) < 0 || !ev.data || ev.data.type !== "complaintbot-token") { return; }
      if (ev.data.token && !state.token) { state.token = ev.data.token; }
      if (ev.data.consent && !state.consent) { state.consent = ev.data.consent; }
      if (!waited) { waited = true; begin(); }
    });
    window.parent.postMessage({ type: "complaintbot-ready" }, "*");
    setTimeout(function () { if (!waited) { waited = true; begin(); } }, 600);
  } else {
    begin();
  }
})();
