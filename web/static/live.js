// Live refresh without a full reload: every few seconds (only while the tab is visible) the page's own URL is
// fetched again and each [data-live] region is swapped for its fresh copy, unless the user is typing in it
// or has opened a form in it (an open <details>).
// With data-live-check="URL" on <main>, a small JSON endpoint is asked first and the page is only fetched when
// its "stamp" changed.  Fires "baton:refreshed" so the diagram re-applies its markers.
(function () {
  "use strict";
  var main = document.querySelector("main[data-live-every]");
  if (!main || !window.fetch || !window.DOMParser) { return; }
  var every = parseInt(main.dataset.liveEvery, 10) || 5000;
  var checkUrl = main.dataset.liveCheck, stamp = main.dataset.liveStamp, busy = false;

  function busyIn(region) {
    var active = document.activeElement;
    return (active && region.contains(active) && active.matches("input, textarea, select")) ||
      region.querySelector("[data-editing], details[open]");
  }

  function swap() {
    return fetch(window.location.href, { credentials: "same-origin", headers: { "X-Live-Refresh": "1" } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html) { return; }
        var fresh = new DOMParser().parseFromString(html, "text/html");
        document.querySelectorAll("[data-live]").forEach(function (region) {
          var next = fresh.getElementById(region.id);
          if (next && !busyIn(region) && next.innerHTML !== region.innerHTML) { region.innerHTML = next.innerHTML; }
        });
        document.dispatchEvent(new CustomEvent("baton:refreshed"));
      });
  }

  function tick() {
    if (busy || document.visibilityState === "hidden") { return; }
    busy = true;
    var work = checkUrl
      ? fetch(checkUrl, { credentials: "same-origin" }).then(function (r) { return r.ok ? r.json() : null; })
          .then(function (data) {
            if (data && data.stamp !== stamp) { stamp = data.stamp; return swap(); }
          })
      : swap();
    work.catch(function () { /* the next tick tries again */ }).then(function () { busy = false; });
  }

  setInterval(tick, every);
  document.addEventListener("visibilitychange", function () { if (document.visibilityState === "visible") { tick(); } });
})();
