/* The Object Manager's page script (Setup → Objects): small, hand-written, no build step. Every page
   saves without it; it adds the formula editor's live check and its lists of fields and functions,
   the layout editor's drag and drop and arrow keys, rows of picklist values, the order of a list
   view's columns and an API name proposed from the label. Texts come from data-setup-i18n. */
(function () {
  "use strict";
  var doc = document;
  var root = doc.querySelector("[data-setup-i18n]");
  if (!root) { return; }
  var texts = {};
  try { texts = JSON.parse(root.getAttribute("data-setup-i18n") || "{}"); } catch (e) { texts = {}; }
  function t(key, vars) {
    var text = texts[key] || key;
    Object.keys(vars || {}).forEach(function (k) { text = text.split("{" + k + "}").join(String(vars[k])); });
    return text;
  }
  function all(sel, el) { return Array.prototype.slice.call((el || doc).querySelectorAll(sel)); }
  function make(tag, cls, text) {
    var el = doc.createElement(tag);
    if (cls) { el.className = cls; }
    if (text !== undefined) { el.textContent = text; }
    return el;
  }
  function csrfToken() {
    var input = doc.querySelector("input[name='csrf_token']");
    return input ? input.value : "";
  }
  function changed(form) { if (form) { form.dispatchEvent(new Event("change", {bubbles: true})); } }

  // -- an API name proposed from the label, until the admin types one ----------------------------------
  all("[data-slug-source]").forEach(function (source) {
    var target = doc.getElementById(source.getAttribute("data-slug-source"));
    if (!target) { return; }
    var touched = target.value !== "";
    target.addEventListener("input", function () { touched = target.value !== ""; });
    source.addEventListener("input", function () {
      if (touched) { return; }
      var slug = source.value.toLowerCase().replace(/[^a-z0-9]+/g, "_").replace(/^_+|_+$/g, "")
        .replace(/^[0-9_]+/, "").slice(0, 40).replace(/_+$/, "");
      target.value = slug;
    });
  });

  // -- the formula editor ---------------------------------------------------------------------------------------
  var catalogs = {};
  function catalog(url, object) {
    var key = url + "?object=" + encodeURIComponent(object);
    if (!catalogs[key]) {
      catalogs[key] = fetch(key, {credentials: "same-origin", headers: {"Accept": "application/json"}})
        .then(function (r) { return r.ok ? r.json() : {fields: [], functions: []}; })
        .catch(function () { return {fields: [], functions: []}; });
    }
    return catalogs[key];
  }

  function caretLine(source, line, column) {
    var text = (source.split("\n")[line - 1] || "");
    var pad = "";
    for (var i = 1; i < column; i++) { pad += text.charAt(i - 1) === "\t" ? "\t" : " "; }
    return text + "\n" + pad + "^";
  }

  all("[data-formula-editor]").forEach(function (box) {
    var input = box.querySelector("textarea");
    var status = box.querySelector(".fe-status");
    var side = box.querySelector("[data-fe-side]");
    var objectFrom = box.getAttribute("data-object-from") && doc.getElementById(box.getAttribute("data-object-from"));
    var returnFrom = box.getAttribute("data-return-from") && doc.getElementById(box.getAttribute("data-return-from"));
    var timer = null, seq = 0;

    function objectName() { return objectFrom ? objectFrom.value : box.getAttribute("data-object"); }
    function returnType() {
      if (returnFrom && returnFrom.value) { return returnFrom.value; }
      return box.getAttribute("data-return-type") || null;
    }
    function show(kind, nodes) {
      status.innerHTML = "";
      status.className = "fe-status fe-" + kind;
      nodes.forEach(function (n) { status.appendChild(n); });
      box.classList.toggle("fe-invalid", kind === "error");
      box.classList.toggle("fe-valid", kind === "ok");
    }
    function check() {
      var mine = ++seq;
      var source = input.value;
      if (!source.trim()) { show("idle", [make("span", "", t("empty"))]); return; }
      if (!objectName()) { show("idle", []); return; }
      show("busy", [make("span", "", t("checking"))]);
      fetch(box.getAttribute("data-check-url"), {
        method: "POST", credentials: "same-origin",
        headers: {"Content-Type": "application/json", "Accept": "application/json", "X-CSRFToken": csrfToken()},
        body: JSON.stringify({object: objectName(), formula: source, return_type: returnType(),
                              exclude: box.getAttribute("data-exclude") || null})
      }).then(function (r) { return r.json(); }).then(function (data) {
        if (mine !== seq) { return; }
        if (data.ok) {
          show("ok", [make("span", "fe-mark", "✓"), make("span", "", t("returns", {type: data.label || data.return_type}))]);
        } else if (data.error && data.error.line) {
          var where = make("strong", "fe-at", t("at", {line: data.error.line, column: data.error.column}));
          var message = make("span", "fe-message", data.error.message);
          var pre = make("pre", "fe-caret", caretLine(source, data.error.line, data.error.column));
          show("error", [make("span", "fe-mark", "✗"), where, message, pre]);
        } else if (data.error) {
          show("error", [make("span", "fe-mark", "✗"), make("span", "fe-message", data.error.message)]);
        } else {
          show("idle", [make("span", "", t("empty"))]);
        }
      }).catch(function () { if (mine === seq) { show("idle", [make("span", "", t("unavailable"))]); } });
    }
    function later() { clearTimeout(timer); timer = setTimeout(check, 300); }

    function insert(text) {
      input.focus();
      var start = input.selectionStart, end = input.selectionEnd;
      var before = input.value.charAt(start - 1);
      if (before && /[\w).'"]/.test(before)) { text = " " + text; }   // keep tokens apart
      input.setRangeText(text, start, end, "end");
      input.dispatchEvent(new Event("input", {bubbles: true}));
    }
    function list(title, items, filterLabel, render) {
      var details = make("details", "fe-list");
      var summary = make("summary", "", title + " ");
      summary.appendChild(make("span", "count", String(items.length)));
      details.appendChild(summary);
      var search = make("input", "fe-search");
      search.type = "search";
      search.setAttribute("aria-label", filterLabel);
      search.placeholder = filterLabel;
      details.appendChild(search);
      var ul = make("ul");
      details.appendChild(ul);
      function fill() {
        var q = search.value.trim().toLowerCase();
        ul.innerHTML = "";
        var shown = items.filter(function (item) { return !q || item.key.toLowerCase().indexOf(q) !== -1; });
        shown.slice(0, 200).forEach(function (item) { ul.appendChild(render(item)); });
        if (!shown.length) { ul.appendChild(make("li", "muted", t("no_match"))); }
      }
      search.addEventListener("input", fill);
      fill();
      return details;
    }
    function buildSide() {
      var object = objectName();
      if (!side || !object) { return; }
      catalog(box.getAttribute("data-catalog-url"), object).then(function (data) {
        side.innerHTML = "";
        var fields = (data.fields || []).map(function (f) { return {key: f.label + " " + f.path, f: f}; });
        var funcs = (data.functions || []).map(function (f) { return {key: f.name + " " + f.doc, f: f}; });
        var fieldList = list(t("fields"), fields, t("find_field"), function (item) {
          var li = make("li");
          var b = make("button", "fe-item");
          b.type = "button";
          b.setAttribute("aria-label", t("insert", {name: item.f.path}));
          b.appendChild(make("span", "fe-label", item.f.label));
          b.appendChild(make("code", "", item.f.path));
          b.appendChild(make("span", "ft", texts["type_" + item.f.type] || item.f.type));
          b.addEventListener("click", function () { insert(item.f.path); });
          li.appendChild(b);
          return li;
        });
        fieldList.open = !box.hasAttribute("data-compact");
        var funcList = list(t("functions"), funcs, t("find_function"), function (item) {
          var li = make("li");
          var b = make("button", "fe-item fe-func");
          b.type = "button";
          b.setAttribute("aria-label", t("insert", {name: item.f.name}));
          b.appendChild(make("code", "fe-sig", item.f.signature));
          b.appendChild(make("span", "fe-doc", item.f.doc));
          b.addEventListener("click", function () { insert(item.f.name + "("); });
          li.appendChild(b);
          return li;
        });
        side.appendChild(fieldList);
        side.appendChild(funcList);
        side.hidden = false;
        box.classList.add("fe-with-side");
      });
    }

    input.addEventListener("input", later);
    if (objectFrom) { objectFrom.addEventListener("change", function () { buildSide(); check(); }); }
    if (returnFrom) { returnFrom.addEventListener("change", check); }
    buildSide();
    if (input.value.trim()) { check(); } else { show("idle", [make("span", "", t("empty"))]); }
  });

  // -- roll-up summary: only the chosen child object's fields -------------------------------------------------
  all("select[data-grouped-by]").forEach(function (select) {
    var by = doc.getElementById(select.getAttribute("data-grouped-by"));
    if (!by) { return; }
    function filter() {
      all("optgroup", select).forEach(function (group) {
        var off = by.value && group.getAttribute("data-group") !== by.value;
        group.hidden = off;
        group.disabled = off;
      });
      var chosen = select.options[select.selectedIndex];
      if (chosen && chosen.parentElement.disabled) { select.value = ""; }
    }
    by.addEventListener("change", filter);
    filter();
  });

  // -- picklist values: add and remove rows ---------------------------------------------------------------------
  all("[data-option-rows]").forEach(function (box) {
    var body = box.querySelector("tbody");
    var add = box.querySelector("[data-add-option]");
    function tools(row) {
      var cell = row.querySelector(".row-tools");
      if (!cell || cell.firstChild) { return; }
      var remove = make("button", "btn btn-sm btn-ghost", "×");
      remove.type = "button";
      remove.setAttribute("aria-label", t("remove"));
      remove.addEventListener("click", function () {
        all("input", row).forEach(function (i) { i.value = ""; });
        if (all("[data-option-row]", body).length > 1) { row.remove(); }
        changed(box.closest("form"));
      });
      cell.appendChild(remove);
    }
    all("[data-option-row]", body).forEach(tools);
    add.hidden = false;
    add.addEventListener("click", function () {
      var rows = all("[data-option-row]", body);
      var last = rows[rows.length - 1];
      var next = 0;
      all("input", body).forEach(function (i) {
        var m = /^options\.(\d+)\./.exec(i.name);
        if (m) { next = Math.max(next, parseInt(m[1], 10) + 1); }
      });
      var row = last.cloneNode(true);
      all("input", row).forEach(function (i) {
        i.name = i.name.replace(/^options\.\d+\./, "options." + next + ".");
        i.id = "f-" + i.name.replace(/[^A-Za-z0-9_-]/g, "-");
        i.value = "";
        i.removeAttribute("aria-invalid");
        i.removeAttribute("aria-describedby");
        i.setAttribute("aria-label", i.getAttribute("aria-label").replace(/\d+$/, String(next + 1)));
      });
      all(".field-error", row).forEach(function (p) { p.remove(); });
      all("td", row).forEach(function (td) { td.classList.remove("has-error"); });
      var cell = row.querySelector(".row-tools");
      cell.innerHTML = "";
      body.appendChild(row);
      tools(row);
      row.querySelector("input").focus();
    });
  });

  // -- list view columns: order with up and down ---------------------------------------------------------------
  all("[data-column-picker]").forEach(function (box) {
    all("[data-column]", box).forEach(function (item) {
      var label = item.querySelector("label").textContent.trim();
      [["move_up", "↑", -1], ["move_down", "↓", 1]].forEach(function (spec) {
        var b = make("button", "btn btn-sm btn-ghost order", spec[1]);
        b.type = "button";
        b.setAttribute("aria-label", t(spec[0]) + ": " + label);
        b.addEventListener("click", function () {
          var sibling = spec[2] < 0 ? item.previousElementSibling : item.nextElementSibling;
          if (!sibling) { return; }
          if (spec[2] < 0) { item.parentNode.insertBefore(item, sibling); } else { item.parentNode.insertBefore(sibling, item); }
          b.focus();
          changed(box.closest("form"));
        });
        item.appendChild(b);
      });
    });
  });

  // -- the layout editor: drag and drop, and the arrow keys ----------------------------------------------------------
  all("[data-layout-editor]").forEach(function (editor) {
    var form = editor.closest("form");
    var palette = editor.querySelector("[data-zone='palette']");
    var box = editor.querySelector("[data-sections]");
    var template = box.querySelector("template[data-section-template]");
    var addButton = box.querySelector("[data-add-section]");
    var status = form.querySelector("[data-layout-status]");
    var count = editor.querySelector("[data-palette-count]");
    var dragging = null, lastZone = null;

    function sections() { return all("[data-section]", box); }
    function zoneOf(section) { return section.querySelector("[data-zone]"); }
    function chips(zone, except) {
      return all(".field-chip", zone).filter(function (c) { return c !== except; });
    }
    function columns(zone) { return zone.classList.contains("cols-2") ? 2 : 1; }
    function sectionName(section) {
      var label = section.querySelector("input[name$='.label']").value.trim();
      return label || t("section", {n: sections().indexOf(section) + 1});
    }
    function sync() {
      sections().forEach(function (section) {
        var zone = zoneOf(section);
        section.querySelector("[data-section-fields]").value =
          chips(zone).map(function (c) { return c.getAttribute("data-field"); }).join("\n");
        zone.classList.toggle("is-empty", chips(zone).length === 0);
        section.querySelector("[data-section-title]").textContent = sectionName(section);
      });
      var left = chips(palette).length;
      palette.classList.toggle("is-empty", left === 0);
      palette.setAttribute("data-empty", t("palette_empty"));
      if (count) { count.textContent = String(left); }
    }
    function announce(chip) {
      var name = chip.querySelector(".fl").textContent;
      var zone = chip.parentElement;
      if (zone === palette) { status.textContent = t("to_palette", {field: name}); return; }
      var list = chips(zone);
      status.textContent = t("moved", {field: name, section: sectionName(zone.closest("[data-section]")),
                                      position: list.indexOf(chip) + 1, count: list.length});
    }
    function place(chip, zone, index) {
      var rest = chips(zone, chip);
      if (index >= rest.length) { zone.appendChild(chip); } else { zone.insertBefore(chip, rest[index]); }
      if (zone !== palette) { lastZone = zone; }
      sync();
      announce(chip);
      changed(form);
    }
    function move(chip, zone, index) { place(chip, zone, index); chip.focus(); }

    function keydown(event) {
      var chip = event.currentTarget;
      var zone = chip.parentElement;
      var list = chips(zone), i = list.indexOf(chip), n = list.length;
      var all_ = sections(), section = zone.closest("[data-section]"), s = all_.indexOf(section);
      var key = event.key;
      if (["ArrowUp", "ArrowDown", "ArrowLeft", "ArrowRight", "Delete", "Backspace"].indexOf(key) === -1) { return; }
      event.preventDefault();
      if (zone === palette) {
        if (key === "ArrowRight") {
          var target = (lastZone && box.contains(lastZone)) ? lastZone : (all_[0] && zoneOf(all_[0]));
          if (target) { move(chip, target, chips(target).length); }
        } else if (key === "ArrowUp" && list[i - 1]) { list[i - 1].focus(); }
        else if (key === "ArrowDown" && list[i + 1]) { list[i + 1].focus(); }
        return;
      }
      var c = columns(zone);
      if (key === "Delete" || key === "Backspace") { move(chip, palette, chips(palette).length); return; }
      if (key === "ArrowUp") {
        if (i - c >= 0) { move(chip, zone, i - c); }
        else if (i > 0) { move(chip, zone, 0); }
        else if (s > 0) { var up = zoneOf(all_[s - 1]); move(chip, up, chips(up).length); }
      } else if (key === "ArrowDown") {
        if (i + c <= n - 1) { move(chip, zone, i + c); }
        else if (i < n - 1) { move(chip, zone, n - 1); }
        else if (s < all_.length - 1) { move(chip, zoneOf(all_[s + 1]), 0); }
      } else if (key === "ArrowLeft") {
        if (c === 2 && i % 2 === 1) { move(chip, zone, i - 1); }
        else { move(chip, palette, chips(palette).length); }
      } else if (key === "ArrowRight") {
        if (c === 2 && i % 2 === 0 && i < n - 1) { move(chip, zone, i + 1); }
      }
    }

    function dropIndex(zone, x, y) {
      var list = chips(zone, dragging), two = columns(zone) === 2 && zone !== palette;
      for (var k = 0; k < list.length; k++) {
        var r = list[k].getBoundingClientRect();
        if (two) {
          if (y < r.top) { return k; }
          if (y <= r.bottom && x < r.left + r.width / 2) { return k; }
        } else if (y < r.top + r.height / 2) { return k; }
      }
      return list.length;
    }
    function clearMarks() {
      all(".drop-before", editor).forEach(function (el) { el.classList.remove("drop-before"); });
      all(".drop-target", editor).forEach(function (el) { el.classList.remove("drop-target"); });
    }
    function wireChip(chip) {
      chip.addEventListener("keydown", keydown);
      chip.addEventListener("dragstart", function (event) {
        dragging = chip;
        event.dataTransfer.effectAllowed = "move";
        event.dataTransfer.setData("text/plain", chip.getAttribute("data-field"));
        setTimeout(function () { chip.classList.add("dragging"); }, 0);
      });
      chip.addEventListener("dragend", function () { chip.classList.remove("dragging"); dragging = null; clearMarks(); });
    }
    function wireZone(zone) {
      zone.addEventListener("dragover", function (event) {
        if (!dragging) { return; }
        event.preventDefault();
        event.dataTransfer.dropEffect = "move";
        clearMarks();
        zone.classList.add("drop-target");
        var list = chips(zone, dragging), k = dropIndex(zone, event.clientX, event.clientY);
        if (list[k]) { list[k].classList.add("drop-before"); }
      });
      zone.addEventListener("dragleave", function (event) {
        if (!zone.contains(event.relatedTarget)) { zone.classList.remove("drop-target"); }
      });
      zone.addEventListener("drop", function (event) {
        if (!dragging) { return; }
        event.preventDefault();
        var chip = dragging, k = dropIndex(zone, event.clientX, event.clientY);
        clearMarks();
        place(chip, zone, zone === palette ? chips(palette, chip).length : k);
      });
    }
    function wireSection(section) {
      wireZone(zoneOf(section));
      var select = section.querySelector("[data-columns]");
      select.addEventListener("change", function () {
        var zone = zoneOf(section);
        zone.classList.toggle("cols-2", select.value === "2");
        zone.classList.toggle("cols-1", select.value !== "2");
      });
      section.querySelector("input[name$='.label']").addEventListener("input", sync);
      var remove = section.querySelector("[data-remove-section]");
      remove.hidden = false;
      remove.addEventListener("click", function () {
        chips(zoneOf(section)).forEach(function (chip) { palette.appendChild(chip); });
        var next = section.nextElementSibling;
        section.remove();
        sync();
        changed(form);
        (next && next.matches("[data-section]") ? next.querySelector("input") : addButton).focus();
      });
    }

    all(".field-chip", editor).forEach(wireChip);
    wireZone(palette);
    sections().forEach(wireSection);
    addButton.type = "button";
    addButton.removeAttribute("name");
    addButton.addEventListener("click", function () {
      var n = 0;
      all("[data-section-fields]", box).forEach(function (ta) {
        var m = /^sections\.(\d+)\./.exec(ta.name);
        if (m) { n = Math.max(n, parseInt(m[1], 10) + 1); }
      });
      var html = template.innerHTML.split("__n__").join(String(n));
      var holder = doc.createElement("div");
      holder.innerHTML = html;
      var section = holder.firstElementChild;
      box.insertBefore(section, template);
      wireSection(section);
      sync();
      section.querySelector("input").focus();
      changed(form);
    });
    editor.classList.add("ready");
    form.classList.add("layout-ready");
    sync();
  });
})();
