// kitshop storefront: live stock and order status over Server-Sent
// Events. Pages work without it (they are plain forms and links); this
// only keeps two numbers fresh. No inline script anywhere: the CSP
// allows only this file.
"use strict";

(function () {
  // follow opens the stream at url and calls on(name, data) for each
  // named event. The server ends streams regularly (and on shutdown); the
  // first event of a new one is the current state. An "end" event means
  // there will be nothing more.
  function follow(url, names, on, liveMark) {
    if (!window.EventSource) return;
    var ended = false, failures = 0;
    function open() {
      var es = new EventSource(url);
      es.onopen = function () { failures = 0; if (liveMark) liveMark.hidden = false; };
      es.onerror = function () {
        if (liveMark) liveMark.hidden = true;
        // The browser retries a dropped stream by itself, but not one
        // refused with an error status (busy, rate limited, a gateway
        // shutting down): retry those with a growing pause, a few times.
        if (es.readyState === EventSource.CLOSED && !ended && failures < 8) {
          failures++;
          setTimeout(open, Math.min(30000, 1000 * Math.pow(2, failures)));
        }
      };
      names.forEach(function (name) {
        es.addEventListener(name, function (e) {
          var data;
          try { data = JSON.parse(e.data); } catch (err) { return; }
          on(name, data);
        });
      });
      es.addEventListener("end", function () { ended = true; es.close(); if (liveMark) liveMark.hidden = true; });
      window.addEventListener("pagehide", function () { ended = true; es.close(); });
    }
    open();
  }

  var product = document.querySelector("[data-stock-stream]");
  if (product) {
    var available = document.getElementById("available");
    follow(product.getAttribute("data-stock-stream"), ["stock"], function (_, d) {
      available.textContent = String(d.available);
    }, document.getElementById("stock-live"));
  }

  var order = document.querySelector("[data-order-stream]");
  if (order) {
    var status = document.getElementById("status");
    var cancel = document.getElementById("cancel-form");
    var failure = document.getElementById("failure");
    var reason = document.getElementById("failure-reason");
    follow(order.getAttribute("data-order-stream"), ["order"], function (_, d) {
      status.textContent = d.status;
      cancel.hidden = !d.cancellable;
      if (d.failure_reason) { reason.textContent = d.failure_reason; failure.hidden = false; }
    }, document.getElementById("order-live"));
  }
})();
