/* Tessera's page script: small, hand-written, no build step. Every page works without it; it adds
   the lookup search box, list selection, the language switcher's auto-submit, the phone menu,
   confirmations, dismissible messages and the browser's time zone (a "tz" cookie). Texts come from
   the page (data-i18n on <body>), so every string stays in the translated templates. */
(function () {
  "use strict";
  var doc = document;
  doc.documentElement.classList.add("js");
  var texts = {};
  try { texts = JSON.parse(doc.body.getAttribute("data-i18n") || "{}"); } catch (e) { texts = {}; }
  function t(key) { return texts[key] || key; }
  function all(sel, root) { return Array.prototype.slice.call((root || doc).querySelectorAll(sel)); }

  // The browser's time zone, so that the server shows and reads times in it.
  try {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (zone && doc.cookie.indexOf("tz=" + encodeURIComponent(zone)) === -1) {
      doc.cookie = "tz=" + encodeURIComponent(zone) + "; path=/; max-age=31536000; SameSite=Lax";
    }
  } catch (e) { /* no Intl: times stay in UTC */ }

  // Phone menu.
  all("[data-nav-toggle]").forEach(function (button) {
    button.addEventListener("click", function () {
      var bar = button.closest(".topbar");
      var open = bar.classList.toggle("open");
      button.setAttribute("aria-expanded", open ? "true" : "false");
    });
  });

  // The language switcher (and any select marked data-autosubmit) submits on change.
  all("select[data-autosubmit]").forEach(function (select) {
    var submit = select.form && select.form.querySelector("[data-autosubmit-button]");
    if (submit) { submit.classList.add("sr-only"); }
    select.addEventListener("change", function () { select.form.submit(); });
  });

  // Dismissible messages.
  all(".flash .dismiss").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () { button.closest(".flash").remove(); });
  });

  // Confirmation before destructive actions.
  all("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.getAttribute("data-confirm"))) { event.preventDefault(); }
    });
  });

  // Leaving a form with unsaved changes asks first.
  all("form[data-warn-unsaved]").forEach(function (form) {
    var dirty = false;
    form.addEventListener("input", function () { dirty = true; });
    form.addEventListener("change", function () { dirty = true; });
    form.addEventListener("submit", function () { dirty = false; });
    window.addEventListener("beforeunload", function (event) {
      if (dirty) { event.preventDefault(); event.returnValue = ""; }
    });
  });

  // Phone cards: each cell of a big list gets its column's header as its label (the server leaves
  // data-label out of long lists to keep them small).
  all("table[data-labels-from-head]").forEach(function (table) {
    var heads = all("thead th", table).map(function (th) { return th.textContent.replace(/\s*\(.*\)\s*$/, "").trim(); });
    all("tbody tr", table).forEach(function (tr) {
      Array.prototype.forEach.call(tr.children, function (td, i) {
        if (heads[i] && !td.hasAttribute("data-label")) { td.setAttribute("data-label", heads[i]); }
      });
    });
  });

  // List selection: select all, the count, and the mass action's button.
  all("[data-selectable]").forEach(function (table) {
    var form = table.closest("form");
    var master = table.querySelector("[data-select-all]");
    var boxes = all("input[name='ids']", table);
    var counter = form && form.querySelector("[data-selected-count]");
    var action = form && form.querySelector("[data-bulk-action]");
    function update() {
      var n = boxes.filter(function (b) { return b.checked; }).length;
      boxes.forEach(function (b) { b.closest("tr").classList.toggle("selected", b.checked); });
      if (counter) { counter.textContent = n ? t("selected").replace("{n}", n) : ""; }
      if (action) { action.disabled = n === 0; }
      if (master) { master.checked = n > 0 && n === boxes.length; master.indeterminate = n > 0 && n < boxes.length; }
    }
    if (master) {
      master.addEventListener("change", function () {
        boxes.forEach(function (b) { b.checked = master.checked; });
        update();
      });
    }
    boxes.forEach(function (b) { b.addEventListener("change", update); });
    update();
  });

  // Lookup search box: finds target records by name as the user types (ARIA combobox).
  all("[data-lookup-url]").forEach(function (box, index) {
    var input = box.querySelector("input[type='text']");
    var hidden = box.querySelector("input[type='hidden']");
    var list = doc.createElement("ul");
    var picked = box.querySelector(".lookup-picked");
    var timer = null, active = -1, items = [], seq = 0;
    list.className = "lookup-list";
    list.id = "lookup-list-" + index;
    list.setAttribute("role", "listbox");
    list.hidden = true;
    box.appendChild(list);
    input.setAttribute("role", "combobox");
    input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-expanded", "false");
    input.setAttribute("aria-controls", list.id);
    input.setAttribute("autocomplete", "off");

    function close() {
      list.hidden = true; active = -1;
      input.setAttribute("aria-expanded", "false");
      input.removeAttribute("aria-activedescendant");
    }
    function choose(item) {
      hidden.value = item.id;
      input.value = item.name;
      if (picked) { picked.textContent = t("picked").replace("{name}", item.name); }
      close();
    }
    function highlight(i) {
      var options = all("li[role='option']", list);
      options.forEach(function (li, j) { li.setAttribute("aria-selected", j === i ? "true" : "false"); });
      active = i;
      if (options[i]) {
        input.setAttribute("aria-activedescendant", options[i].id);
        options[i].scrollIntoView({block: "nearest"});
      }
    }
    function render(data) {
      list.innerHTML = "";
      items = data.records || [];
      items.forEach(function (item, i) {
        var li = doc.createElement("li");
        li.id = list.id + "-" + i;
        li.setAttribute("role", "option");
        li.textContent = item.name || t("no_name");
        if (item.detail) {
          var small = doc.createElement("span");
          small.className = "detail";
          small.textContent = item.detail;
          li.appendChild(small);
        }
        li.addEventListener("mousedown", function (event) { event.preventDefault(); choose(item); });
        list.appendChild(li);
      });
      if (!items.length) {
        var none = doc.createElement("li");
        none.className = "none";
        none.textContent = t("no_match");
        if (data.new_url) {
          none.appendChild(doc.createTextNode(" "));
          var link = doc.createElement("a");
          link.href = data.new_url;
          link.target = "_blank";
          link.rel = "noopener";
          link.textContent = t("create_new");
          none.appendChild(link);
        }
        list.appendChild(none);
      }
      list.hidden = false;
      input.setAttribute("aria-expanded", "true");
      active = -1;
    }
    function search() {
      var mine = ++seq;
      var url = box.getAttribute("data-lookup-url") + "?q=" + encodeURIComponent(input.value.trim());
      fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
        .then(function (r) { return r.ok ? r.json() : {records: []}; })
        .then(function (data) { if (mine === seq && doc.activeElement === input) { render(data); } })
        .catch(function () { /* offline: the server still resolves a typed name on save */ });
    }
    input.addEventListener("input", function () {
      hidden.value = "";
      if (picked) { picked.textContent = ""; }
      clearTimeout(timer);
      timer = setTimeout(search, 180);
    });
    input.addEventListener("focus", function () { if (!hidden.value) { clearTimeout(timer); timer = setTimeout(search, 50); } });
    input.addEventListener("blur", function () { setTimeout(close, 120); });
    input.addEventListener("keydown", function (event) {
      if (list.hidden && event.key === "ArrowDown") { search(); return; }
      if (event.key === "ArrowDown") { event.preventDefault(); highlight(Math.min(active + 1, items.length - 1)); }
      else if (event.key === "ArrowUp") { event.preventDefault(); highlight(Math.max(active - 1, 0)); }
      else if (event.key === "Enter" && !list.hidden && active >= 0) { event.preventDefault(); choose(items[active]); }
      else if (event.key === "Escape") { close(); }
    });
  });
})();
