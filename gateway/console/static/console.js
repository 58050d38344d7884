// Optional auto-reload of the console page, remembered per browser. The
// page is rendered on the server; this is the only script, loaded from
// 'self' as the Content-Security-Policy requires.
(function () {
  "use strict";
  var key = "kitshop.console.autorefresh";
  var box = document.getElementById("autorefresh");
  if (!box) {
    return;
  }
  // The box is hidden until now: without this script it would do nothing.
  var label = document.getElementById("autorefresh-label");
  if (label) {
    label.hidden = false;
  }
  var timer = null;
  function schedule() {
    if (timer !== null) {
      clearTimeout(timer);
      timer = null;
    }
    if (box.checked) {
      timer = setTimeout(function () { window.location.reload(); }, 15000);
    }
  }
  try {
    box.checked = window.localStorage.getItem(key) === "1";
  } catch (e) {
    // Storage may be disabled; the box then simply starts unchecked.
  }
  box.addEventListener("change", function () {
    try {
      window.localStorage.setItem(key, box.checked ? "1" : "0");
    } catch (e) {
      // Not remembered, still honoured for this page.
    }
    schedule();
  });
  schedule();
})();
