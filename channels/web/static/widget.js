/* The embed snippet: <script src="https://HOST/chat/widget.js" async></script>
   A bubble in the corner opens the chat in a frame from HOST. The conversation's token
   is kept in this site's own storage (a frame's cookies from another site may be
   blocked) and handed to the frame when it asks. */
(function () {
  "use strict";
  if (window.__complaintbotWidget) { return; }
  window.__complaintbotWidget = true;
  var script = document.currentScript;
  var base = new URL(script ? script.src : "/chat/widget.js", location.href).origin;
  var KEY = "complaintbot-chat-token";
  var lang = (navigator.language || "zh-CN").toLowerCase().indexOf("zh") === 0 ? "zh_CN" : "en";
  var frame = null;
  var button = document.createElement("button");
  button.type = "button";
  button.setAttribute("aria-label", lang === "zh_CN" ? "在线投诉" : "Complaints chat");
  button.setAttribute("aria-expanded", "false");
  button.textContent = "💬";
  button.style.cssText = "position:fixed;right:16px;bottom:16px;width:56px;height:56px;border-radius:50%;" +
    "border:0;background:#0b57d0;color:#fff;font-size:26px;box-shadow:0 2px 8px rgba(0,0,0,.3);cursor:pointer;z-index:2147483646";
  function toggle() {
    if (!frame) {
      frame = document.createElement("iframe");
      frame.src = base + "/chat/?embed=1&lang=" + lang;
      frame.title = button.getAttribute("aria-label");
      frame.style.cssText = "position:fixed;right:16px;bottom:84px;width:min(400px,calc(100vw - 32px));" +
        "height:min(640px,calc(100vh - 110px));border:1px solid #d0d7de;border-radius:12px;background:#fff;" +
        "box-shadow:0 4px 16px rgba(0,0,0,.25);z-index:2147483647";
      document.body.appendChild(frame);
    } else {
      frame.hidden = !frame.hidden;
    }
    button.setAttribute("aria-expanded", String(!frame.hidden));
  }
  window.addEventListener("message", function (ev) {
    if (ev.origin !== base || !ev.data || !frame || ev.source !== frame.contentWindow) { return; }
    if (ev.data.type === "complaintbot-ready") {
      var kept = {};
      try { kept = JSON.parse(localStorage.getItem(KEY)) || {}; } catch (e) { /* storage off */ }
      frame.contentWindow.postMessage(
        { type: "complaintbot-token", token: kept.token || null, consent: kept.consent || null }, base);
    } else if (ev.data.type === "complaintbot-token" && ev.data.token) {
      try {
        localStorage.setItem(KEY, JSON.stringify({ token: ev.data.token, consent: ev.data.consent }));
      } catch (e) { /* storage off */ }
    }
  });
  button.addEventListener("click", toggle);
  function place() { document.body.appendChild(button); }
  if (document.body) { place(); } else { document.addEventListener("DOMContentLoaded", place); }
})();
