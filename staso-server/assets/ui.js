// staso-server web UI: the few things a server-rendered page cannot do alone.
// - The trace list's first page polls its rows (tbody[data-poll]) every 3 s, so new traces appear
//   without a reload; new rows are briefly highlighted. Same-origin fetch: the session cookie (if
//   the server asks for a key) goes along.
// - On the trace page, the selected waterfall row is scrolled into view.
(function () {
  "use strict";
  var POLL_MS = 3000;

  function poll(tbody) {
    var url = tbody.getAttribute("data-poll");
    var live = document.getElementById("live");
    function tick() {
      fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
        .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } return r.text(); })
        .then(function (html) {
          var before = {};
          tbody.querySelectorAll("tr[data-trace-id]").forEach(function (tr) {
            before[tr.getAttribute("data-trace-id")] = true;
          });
          if (tbody.innerHTML !== html) {
            tbody.innerHTML = html;
            tbody.querySelectorAll("tr[data-trace-id]").forEach(function (tr) {
              if (!before[tr.getAttribute("data-trace-id")]) { tr.classList.add("fresh"); }
            });
          }
          if (live) { live.textContent = "live · updated " + new Date().toLocaleTimeString(); }
        })
        .catch(function (e) { if (live) { live.textContent = "live · paused (" + e.message + ")"; } })
        .then(function () { setTimeout(tick, POLL_MS); });
    }
    setTimeout(tick, POLL_MS);
  }

  document.addEventListener("DOMContentLoaded", function () {
    var tbody = document.querySelector("tbody[data-poll]");
    if (tbody) { poll(tbody); }
    var sel = document.querySelector(".wf-row.selected");
    if (sel && sel.scrollIntoView && location.hash !== "#detail") {
      sel.scrollIntoView({ block: "nearest" });
    }
  });
})();
