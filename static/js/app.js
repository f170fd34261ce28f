// Sunshine Relief: tiny progressive enhancements. Everything works without this file.
(function () {
  "use strict";
  var banner = document.querySelector(".offline-banner");
  function showConnection() {
    if (banner) banner.hidden = navigator.onLine;
  }
  window.addEventListener("online", showConnection);
  window.addEventListener("offline", showConnection);
  showConnection();
  // A refused htmx request (403, 404, 400) names the page's alert area as its
  // target (HX-Retarget): show the message there instead of swapping nothing.
  // A form sent back with its mistakes (422) or a newer version to look at (409) is the
  // fragment to show in place: htmx swaps no 4xx answer by itself.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var xhr = event.detail.xhr;
    var refused = xhr.status >= 400 && xhr.status < 500 && xhr.getResponseHeader("HX-Retarget");
    if (refused || xhr.status === 422 || xhr.status === 409) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });
  // A form sent back with mistakes: bring the first marked field into view and focus it.
  var invalid = document.querySelector('[aria-invalid="true"], .has-error input, .has-error select, .has-error textarea');
  if (invalid) {
    invalid.scrollIntoView({ block: "center" });
    invalid.focus({ preventScroll: true });
  }
  // A type selector narrows its kind list (<select data-filters="#id">, <optgroup data-section>).
  function filterKinds(section) {
    var kind = document.querySelector(section.getAttribute("data-filters"));
    if (!kind) return;
    Array.prototype.forEach.call(kind.querySelectorAll("optgroup[data-section]"), function (group) {
      var off = section.value !== "" && group.getAttribute("data-section") !== section.value;
      group.hidden = off;
      group.disabled = off;
    });
    var chosen = kind.options[kind.selectedIndex];
    if (chosen && chosen.parentNode.disabled) kind.value = "";
  }
  function bindFilters(root) {
    Array.prototype.forEach.call(root.querySelectorAll("select[data-filters]"), function (section) {
      if (section.dataset.bound) return;
      section.dataset.bound = "1";
      section.addEventListener("change", function () { filterKinds(section); });
      filterKinds(section);
    });
  }
  bindFilters(document);
  document.addEventListener("htmx:afterSwap", function (event) { bindFilters(event.target); });
  // A kind selector shows only its parts (<select data-shows="fieldset[data-for-kinds]">): the
  // other parts are hidden and disabled (not sent), and fields marked data-required-for="kind …"
  // become required for those kinds. Nothing chosen: everything shows, as without JavaScript.
  function showParts(select) {
    var form = select.form;
    var kind = select.value;
    Array.prototype.forEach.call(form.querySelectorAll(select.getAttribute("data-shows")), function (part) {
      var off = kind !== "" && part.getAttribute("data-for-kinds").split(" ").indexOf(kind) < 0;
      part.hidden = off;
      part.disabled = off;
    });
    Array.prototype.forEach.call(form.querySelectorAll("[data-required-for]"), function (field) {
      field.required = kind !== "" && field.getAttribute("data-required-for").split(" ").indexOf(kind) >= 0;
    });
  }
  Array.prototype.forEach.call(document.querySelectorAll("select[data-shows]"), function (select) {
    select.addEventListener("change", function () { showParts(select); });
    showParts(select);
  });
  // An application saved from this phone: its kept draft is done with. Logging
  // out forgets every kept draft (a phone may be shared).
  try {
    var submitted = sessionStorage.getItem("relief-intake-submitted");
    if (submitted && document.querySelector("[data-intake-done]")) {
      localStorage.removeItem(submitted);
      sessionStorage.removeItem("relief-intake-submitted");
    }
  } catch (error) { /* storage unavailable */ }
  document.addEventListener("submit", function (event) {
    if (!/\/logout$/.test(event.target.action || "")) return;
    try {
      Object.keys(localStorage).forEach(function (name) {
        if (name.indexOf("relief-intake-draft:") === 0) localStorage.removeItem(name);
      });
    } catch (error) { /* storage unavailable */ }
  }, true);
  // The bot console: open on the newest message; a poll keeps the reader's place
  // (and follows new messages only when the reader was already at the bottom).
  var place = null;
  function transcript() { return document.getElementById("transcript"); }
  function settle() {
    var box = transcript();
    if (!box) return;
    if (place && !place.atBottom) box.scrollTop = place.top;
    else box.scrollTop = box.scrollHeight;
    place = null;
  }
  document.addEventListener("htmx:beforeSwap", function (event) {
    var box = transcript();
    if (!box) return;
    var sent = event.detail.requestConfig && event.detail.requestConfig.verb !== "get";
    place = {
      top: box.scrollTop,
      atBottom: sent || box.scrollHeight - box.scrollTop - box.clientHeight < 24
    };
  });
  document.addEventListener("htmx:afterSettle", settle);
  settle();
  if ("serviceWorker" in navigator && location.protocol !== "file:") {
    navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(function () {});
  }
})();
