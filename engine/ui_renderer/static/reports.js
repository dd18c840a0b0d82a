/* Report pages: the builder's live preview and filter check, the segment form's live count.
   The forms work without this script (Preview posts the form; the server checks on save). */
(function () {
  "use strict";

  function debounce(fn, ms) {
    var timer = null;
    return function () {
      clearTimeout(timer);
      timer = setTimeout(fn, ms);
    };
  }

  function i18n(el) {
    try { return JSON.parse(el.getAttribute("data-i18n") || "{}"); } catch (e) { return {}; }
  }

  function token(form) {
    var input = form.querySelector("input[name=csrf_token]");
    return input ? input.value : "";
  }

  function builder(form) {
    var texts = i18n(form);
    var target = document.getElementById("report-preview");
    var status = document.querySelector("[data-preview-status]");
    var seq = 0;
    var refresh = debounce(function () {
      var mine = ++seq;
      if (status) { status.textContent = texts.checking || ""; }
      var data = new FormData(form);
      data.delete("_action");
      fetch(form.getAttribute("data-preview-url"), {method: "POST", body: data, credentials: "same-origin",
                                                    headers: {"X-CSRFToken": token(form)}})
        .then(function (r) { return r.text(); })
        .then(function (html) {
          if (mine !== seq || !target) { return; }
          var doc = new DOMParser().parseFromString(html, "text/html");
          var body = doc.getElementById("report-preview-body");
          if (body) { target.replaceChildren(document.importNode(body, true)); }
          if (status) { status.textContent = ""; }
          form.dispatchEvent(new CustomEvent("report-preview", {bubbles: true}));
        })
        .catch(function () { if (status) { status.textContent = ""; } });
    }, 400);
    form.addEventListener("change", refresh);
    form.addEventListener("input", function (e) {
      if (e.target.matches("textarea, input[type=text]")) { refresh(); }
    });

    // a bucket named here can be chosen as a grouping at once
    var bucketName = form.querySelector('[name="buckets.0.name"]');
    if (bucketName) {
      bucketName.addEventListener("input", function () {
        var name = bucketName.value.trim();
        form.querySelectorAll('select[name^="group_by."][name$=".field"]').forEach(function (select) {
          var option = select.querySelector("option[data-bucket]") ||
            Array.prototype.find.call(select.options, function (o) { return o.value.indexOf("bucket:") === 0; });
          if (!name) { if (option && !option.selected) { option.remove(); } return; }
          if (!option) {
            option = document.createElement("option");
            select.appendChild(option);
          }
          option.setAttribute("data-bucket", "");
          option.value = "bucket:" + name;
          option.textContent = (texts.bucket || "{name}").replace("{name}", name);
        });
      });
    }

    var filter = form.querySelector("[data-formula-check]");
    var out = form.querySelector("[data-check-status]");
    if (filter && out) {
      var check = debounce(function () {
        var source = filter.value;
        if (!source.trim()) { out.textContent = ""; out.className = "formula-status"; return; }
        fetch(form.getAttribute("data-check-url"), {
          method: "POST", credentials: "same-origin",
          headers: {"Content-Type": "application/json", "X-CSRFToken": token(form)},
          body: JSON.stringify({object: form.getAttribute("data-object"), formula: source})
        }).then(function (r) { return r.json(); }).then(function (res) {
          if (filter.value !== source) { return; }
          if (res.ok) {
            out.textContent = texts.valid || "OK";
            out.className = "formula-status is-ok";
            filter.removeAttribute("aria-invalid");
          } else if (res.error) {
            var where = res.error.line ? " (" + (texts.at || "").replace("{line}", res.error.line)
              .replace("{column}", res.error.column) + ")" : "";
            out.textContent = res.error.message + where;
            out.className = "formula-status is-error";
            filter.setAttribute("aria-invalid", "true");
          }
        }).catch(function () {});
      }, 350);
      filter.addEventListener("input", check);
    }
  }

  function segment(form) {
    var texts = i18n(form);
    var criteria = form.querySelector("[data-segment-criteria]");
    var out = form.querySelector("[data-count-status]");
    if (!criteria || !out) { return; }
    var count = debounce(function () {
      var source = criteria.value;
      if (!source.trim()) { out.textContent = ""; return; }
      out.textContent = texts.checking || "";
      var data = new FormData(form);
      fetch(form.getAttribute("data-count-url"), {method: "POST", body: data, credentials: "same-origin",
                                                  headers: {"X-CSRFToken": token(form), "Accept": "application/json"}})
        .then(function (r) { return r.json(); }).then(function (res) {
          if (criteria.value !== source) { return; }
          if (res.error) {
            out.textContent = res.error.message;
            out.className = "formula-status is-error";
          } else if (res.count !== null && res.count !== undefined) {
            out.textContent = (texts.members || "{n}").replace("{n}", res.count);
            out.className = "formula-status is-ok";
          }
        }).catch(function () {});
    }, 400);
    criteria.addEventListener("input", count);
    form.addEventListener("change", count);
    count();
  }

  document.querySelectorAll("[data-report-builder]").forEach(builder);
  document.querySelectorAll("[data-segment-form]").forEach(segment);
}());
