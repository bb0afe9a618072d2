// frontmon dashboard: shows each <time datetime> in the reader's time zone and language.
// The only script of our own; htmx does the rest from attributes.
(function () {
  "use strict";
  function localise(root) {
    var lang = document.documentElement.lang || undefined;
    var format;
    try {
      format = new Intl.DateTimeFormat(lang, { dateStyle: "medium", timeStyle: "short" });
    } catch (e) {
      return;
    }
    var times = (root || document).querySelectorAll("time[datetime]");
    for (var i = 0; i < times.length; i++) {
      var at = new Date(times[i].getAttribute("datetime"));
      if (!isNaN(at.getTime())) {
        times[i].title = times[i].textContent;
        times[i].textContent = format.format(at);
      }
    }
  }
  document.addEventListener("DOMContentLoaded", function () { localise(document); });
  document.addEventListener("htmx:load", function (e) { localise(e.target); });
})();
