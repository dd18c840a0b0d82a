/* The workflow forms' page script (Setup → Approvals and Automations): small, hand-written, no
   build step. Every form works without it; it shows only the inputs of the chosen trigger and
   the number of approvals only for a quorum or a percentage, and keeps the page where it was
   when a row button (add, remove, move up) posts the form. */
(function () {
  "use strict";
  var doc = document;
  function all(sel, el) { return Array.prototype.slice.call((el || doc).querySelectorAll(sel)); }

  // The trigger's own inputs: a date field and offset for "time", a cron schedule for "schedule".
  all("select[data-trigger]").forEach(function (select) {
    var box = select.closest("[data-trigger-box]") || doc;
    function show() {
      all("[data-trigger-kind]", box).forEach(function (el) {
        var kinds = el.getAttribute("data-trigger-kind").split(" ");
        el.hidden = kinds.indexOf(select.value) === -1;
      });
    }
    select.addEventListener("change", show);
    show();
  });

  // A step's number of approvals: only for "quorum" and "percent".
  all("select[data-decision]").forEach(function (select) {
    var number = doc.getElementById(select.id.replace(/-decision$/, "-decision_number"));
    var field = number && number.closest(".field");
    if (!field) { return; }
    function show() {
      var needed = select.value === "quorum" || select.value === "percent";
      field.hidden = !needed && !field.classList.contains("has-error");
    }
    select.addEventListener("change", show);
    show();
  });

  // Row buttons post the whole form: come back to the same place on the page.
  var KEY = "tessera-wf-scroll";
  all("form.wf-form").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      var button = event.submitter;
      if (button && button.name === "_do" && button.value) {
        try { sessionStorage.setItem(KEY, JSON.stringify({path: location.pathname, y: window.scrollY})); } catch (e) { /* private mode */ }
      }
    });
  });
  try {
    var saved = JSON.parse(sessionStorage.getItem(KEY) || "null");
    sessionStorage.removeItem(KEY);
    var focused = doc.querySelector(".wf-form [autofocus]");
    if (saved && saved.path === location.pathname && !focused) { window.scrollTo(0, saved.y); }
  } catch (e) { /* nothing to restore */ }
})();
