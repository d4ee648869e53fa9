// A case's page: news (a message, an event) appear without reloading. The server says
// "changed" by server-sent events; the page fetches its story part again.
(function () {
  var story = document.getElementById("story");
  if (!story || !window.EventSource) return;
  var source = new EventSource(story.dataset.events);
  source.addEventListener("changed", function () {
    fetch(story.dataset.story, { credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (html !== null) {
          story.innerHTML = html;
          story.dataset.version = String(Number(story.dataset.version || "0") + 1);
        }
      });
  });
})();
