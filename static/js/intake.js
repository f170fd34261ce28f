// Intake on a phone: the long form in three short steps, and everything typed
// kept on the phone as it is typed, so an interrupted application (a call, no
// signal, a closed tab) is taken up again where it was left. Without this file
// the form is one page and works the same.
(function () {
  "use strict";
  var form = document.querySelector("[data-intake-form]");
  if (!form) return;
  var owner = document.querySelector("[data-outbox-user]");
  var key = "relief-intake-draft:" + (owner ? owner.getAttribute("data-outbox-user") : "");
  var sentBack = !!document.querySelector("[data-first-error]");

  function l(name) { return form.getAttribute("data-l-" + name) || ""; }

  // --- kept as typed -------------------------------------------------------------
  function fields() {
    return Array.prototype.filter.call(form.elements, function (el) {
      return el.name && el.name !== "_csrf_token" && el.name !== "action" && el.type !== "hidden" &&
        el.type !== "submit" && el.type !== "button" && el.type !== "file";
    });
  }
  function save() {
    var values = fields().map(function (el) {
      return [el.name, el.type === "checkbox" || el.type === "radio" ? (el.checked ? el.value : null) : el.value, el.type];
    });
    try { localStorage.setItem(key, JSON.stringify({ at: Date.now(), values: values })); } catch (error) { /* full or private */ }
  }
  function restore(saved) {
    var byName = {};
    saved.values.forEach(function (entry) { (byName[entry[0]] = byName[entry[0]] || []).push(entry); });
    fields().forEach(function (el) {
      var entries = byName[el.name];
      if (!entries) return;
      if (el.type === "checkbox" || el.type === "radio") {
        el.checked = entries.some(function (e) { return e[1] === el.value; });
      } else {
        el.value = entries[0][1];
      }
    });
    Array.prototype.forEach.call(form.querySelectorAll("select[data-filters]"), function (el) {
      el.dispatchEvent(new Event("change"));
    });
  }
  var saved = null;
  try { saved = JSON.parse(localStorage.getItem(key) || "null"); } catch (error) { saved = null; }
  if (saved && !sentBack && saved.values && saved.values.some(function (e) { return e[1] && e[2] !== "select-one"; })) {
    restore(saved);
    var note = document.createElement("div");
    note.className = "flash flash-info";
    note.setAttribute("role", "status");
    note.textContent = l("restored") + " ";
    var discard = document.createElement("button");
    discard.type = "button";
    discard.className = "btn btn-link";
    discard.textContent = l("discard");
    discard.addEventListener("click", function () {
      try { localStorage.removeItem(key); } catch (error) { /* nothing kept */ }
      location.reload();
    });
    note.appendChild(discard);
    form.parentNode.insertBefore(note, form);
  }
  form.addEventListener("input", save);
  form.addEventListener("change", save);
  form.addEventListener("submit", function (event) {
    var button = event.submitter;
    if (button && button.value === "save") {
      try { sessionStorage.setItem("relief-intake-submitted", key); } catch (error) { /* private mode */ }
    }
  });

  // --- three short steps on a phone ------------------------------------------------
  if (!window.matchMedia || !window.matchMedia("(max-width: 767.98px)").matches) return;
  var total = 0;
  Array.prototype.forEach.call(form.querySelectorAll("fieldset[data-step]"), function (set) {
    total = Math.max(total, Number(set.getAttribute("data-step")));
  });
  if (total < 2) return;
  var current = 1;
  var bar = document.createElement("div");
  bar.className = "step-bar";
  var label = document.createElement("span");
  label.className = "step-label";
  var back = document.createElement("button");
  back.type = "button";
  back.className = "btn";
  back.textContent = l("prev");
  var next = document.createElement("button");
  next.type = "button";
  next.className = "btn btn-primary btn-big";
  next.setAttribute("data-step-next", "");
  next.textContent = l("next");
  bar.appendChild(label);
  bar.appendChild(back);
  bar.appendChild(next);
  var last = form.querySelector("[data-step-last]");
  form.insertBefore(bar, last);

  function show(step) {
    current = Math.min(Math.max(step, 1), total);
    Array.prototype.forEach.call(form.querySelectorAll("fieldset[data-step]"), function (set) {
      set.hidden = Number(set.getAttribute("data-step")) !== current;
    });
    label.textContent = l("step").replace("{n}", current).replace("{total}", total);
    back.hidden = current === 1;
    next.hidden = current === total;
    if (last) last.hidden = current !== total;
  }
  back.addEventListener("click", function () { show(current - 1); window.scrollTo(0, 0); });
  next.addEventListener("click", function () { show(current + 1); window.scrollTo(0, 0); });
  document.addEventListener("htmx:afterSwap", function () { show(current); });
  // Sent back with mistakes: open on the step of the first one.
  var invalid = form.querySelector('[aria-invalid="true"], .has-error input, .has-error select');
  var holder = invalid && invalid.closest("fieldset[data-step]");
  show(holder ? Number(holder.getAttribute("data-step")) : 1);
  if (invalid) invalid.focus({ preventScroll: false });
})();
