/* Setup → Users, Roles, Permission sets, Sharing: the little the pages add with a script. Every
   form works without it. Copy buttons (a new API token), and in the rights matrix the rights that
   need "Read" check it (and unchecking "Read" clears the others), as admins expect. */
(function () {
  "use strict";
  var doc = document;
  function all(sel, root) { return Array.prototype.slice.call((root || doc).querySelectorAll(sel)); }

  // Copy buttons: data-copy="<input id>", data-copied="<message>".
  all("[data-copy]").forEach(function (button) {
    var source = doc.getElementById(button.getAttribute("data-copy"));
    var status = button.closest(".copy-row") && button.closest(".copy-row").querySelector("[data-copy-status]");
    if (!source) { return; }
    button.hidden = false;
    function done() { if (status) { status.textContent = button.getAttribute("data-copied"); } }
    function fallback() {
      source.focus();
      source.select();
      try { if (doc.execCommand("copy")) { done(); } } catch (e) { /* the text stays selected */ }
    }
    button.addEventListener("click", function () {
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(source.value).then(done, fallback);
      } else {
        fallback();
      }
    });
    source.addEventListener("focus", function () { source.select(); });
  });

  // Rights matrix: every right needs "read"; "modify all" implies "view all", "edit" and "delete".
  var IMPLIES = {create: ["read"], edit: ["read"], "delete": ["read"], view_all: ["read"],
                 modify_all: ["read", "view_all", "edit", "delete"]};
  all("[data-rights-matrix] tbody tr").forEach(function (row) {
    function box(right) { return row.querySelector("input[data-right='" + right + "']"); }
    all("input[data-right]", row).forEach(function (input) {
      input.addEventListener("change", function () {
        var right = input.getAttribute("data-right");
        if (input.checked) {
          (IMPLIES[right] || []).forEach(function (other) { if (box(other)) { box(other).checked = true; } });
        } else {
          Object.keys(IMPLIES).forEach(function (other) {
            if (IMPLIES[other].indexOf(right) !== -1 && box(other)) { box(other).checked = false; }
          });
        }
      });
    });
  });

  // An API name follows its label until the admin types one (lowercase, digits, underscores).
  all("input[data-slug-from]").forEach(function (target) {
    var source = doc.getElementById(target.getAttribute("data-slug-from"));
    var touched = target.value !== "";
    if (!source) { return; }
    target.addEventListener("input", function () { touched = target.value !== ""; });
    source.addEventListener("input", function () {
      if (touched) { return; }
      target.value = source.value.toLowerCase().replace(/[^a-z0-9]+/g, "_").replace(/^[^a-z]+|_+$/g, "").slice(0, 64);
    });
  });

  // Field rights: the select's colour follows its level as the admin changes it.
  all("select.level").forEach(function (select) {
    select.addEventListener("change", function () {
      select.className = select.className.replace(/\blevel-\w+/, "level-" + (select.value || "default"));
    });
  });
})();
