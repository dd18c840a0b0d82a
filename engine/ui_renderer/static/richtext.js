/* The rich text editor of record forms (widgets/richtext.html): a toolbar and an editable area
   over the field's <textarea>, which stays the form's input (and the whole editor without
   JavaScript). Only a few tags are kept here — the server cleans every value again with nh3 on
   save and on display, so this list is a convenience, not the safety. */
(function () {
  "use strict";
  var ALLOWED = {B: 1, STRONG: 1, I: 1, EM: 1, U: 1, P: 1, BR: 1, UL: 1, OL: 1, LI: 1, A: 1, DIV: 1, SPAN: 1,
                 H2: 1, H3: 1, BLOCKQUOTE: 1, CODE: 1, PRE: 1};

  function clean(node, into) {
    Array.prototype.forEach.call(node.childNodes, function (child) {
      if (child.nodeType === 3) { into.appendChild(document.createTextNode(child.nodeValue)); return; }
      if (child.nodeType !== 1) { return; }
      if (!ALLOWED[child.tagName]) { clean(child, into); return; }
      var copy = document.createElement(child.tagName);
      var href = child.tagName === "A" ? child.getAttribute("href") || "" : "";
      if (/^(https?:|mailto:)/i.test(href)) { copy.setAttribute("href", href); }
      clean(child, copy);
      into.appendChild(copy);
    });
  }

  function setHtml(editor, html) {
    var parsed = new DOMParser().parseFromString(html || "", "text/html");   // parsing runs no script
    editor.textContent = "";
    clean(parsed.body, editor);
  }

  Array.prototype.forEach.call(document.querySelectorAll("[data-rich-editor]"), function (box) {
    var source = box.querySelector("textarea[data-rich]");
    var bar = box.querySelector(".rich-toolbar");
    if (!source || !bar) { return; }
    var editor = document.createElement("div");
    editor.className = "rich-area";
    editor.id = source.id + "-editor";
    editor.contentEditable = "true";
    editor.setAttribute("role", "textbox");
    editor.setAttribute("aria-multiline", "true");
    var label = document.querySelector('label[for="' + source.id + '"]');
    if (label) {
      if (!label.id) { label.id = source.id + "-label"; }
      editor.setAttribute("aria-labelledby", label.id);
      label.addEventListener("click", function () { editor.focus(); });
    }
    ["aria-describedby", "aria-invalid", "aria-required"].forEach(function (name) {
      if (source.hasAttribute(name)) { editor.setAttribute(name, source.getAttribute(name)); }
    });
    setHtml(editor, source.value);
    source.hidden = true;
    source.setAttribute("tabindex", "-1");
    bar.hidden = false;
    box.appendChild(editor);

    function sync() {
      var text = editor.textContent.replace(/\s+/g, "");
      source.value = text || editor.querySelector("li, br + br") ? editor.innerHTML : "";
      source.dispatchEvent(new Event("input", {bubbles: true}));   // the unsaved-changes warning
    }
    editor.addEventListener("input", sync);
    editor.addEventListener("paste", function (event) {
      var data = event.clipboardData;
      if (!data) { return; }
      event.preventDefault();
      var holder = document.createElement("div");
      setHtml(holder, data.getData("text/html") || data.getData("text/plain").replace(/[&<>]/g, function (c) {
        return {"&": "&amp;", "<": "&lt;", ">": "&gt;"}[c];
      }).replace(/\n/g, "<br>"));
      document.execCommand("insertHTML", false, holder.innerHTML);
    });
    // a toolbar button keeps the focus (and the selection) in the text
    bar.addEventListener("mousedown", function (event) {
      if (event.target.closest("button[data-cmd]")) { event.preventDefault(); }
    });
    bar.addEventListener("click", function (event) {
      var button = event.target.closest("button[data-cmd]");
      if (!button) { return; }
      if (document.activeElement !== editor) { editor.focus(); }
      var cmd = button.getAttribute("data-cmd");
      if (cmd === "createLink") {
        var url = window.prompt(box.getAttribute("data-link-prompt") || "URL", "https://");
        if (!url || !/^(https?:|mailto:)/i.test(url)) { return; }
        document.execCommand("createLink", false, url);
      } else {
        document.execCommand(cmd, false, null);
      }
      sync();
    });
    if (source.form) { source.form.addEventListener("submit", sync); }
  });
}());
