/* Live refresh without a full reload: every element with data-refresh="<url>" is refetched every
   data-every milliseconds with ?fragment=1, and its content replaced by the server-rendered fragment.
   Paused while the tab is hidden or while the person has focus inside the element. */
(function () {
  function refresh(el) {
    if (document.hidden || el.contains(document.activeElement)) return;
    var url = new URL(el.dataset.refresh, window.location.href);
    url.searchParams.set("fragment", "1");
    fetch(url, {headers: {"Accept": "text/html"}, credentials: "same-origin"})
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (html !== null) { el.innerHTML = html; el.dataset.refreshedAt = String(Date.now()); }
      })
      .catch(function () { /* the next round tries again */ });
  }
  document.querySelectorAll("[data-refresh]").forEach(function (el) {
    var every = parseInt(el.dataset.every || "5000", 10);
    window.setInterval(function () { refresh(el); }, every);
  });
})();
