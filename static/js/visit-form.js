// Field-work pages: the visit form (photos downscaled on the phone, signature
// pad, GPS, saved to the offline outbox), the card print button and the QR
// scanner. Every form also works without this file (plain multipart POST).
(function () {
  "use strict";
  var LONG_EDGE = 1600;
  var JPEG_QUALITY = 0.85;

  document.querySelectorAll("[data-print]").forEach(function (button) {
    button.addEventListener("click", function () { window.print(); });
  });

  setUpScanner(document.querySelector("[data-scanner]"));
  var form = document.querySelector("[data-visit-form]");
  if (form) setUpVisitForm(form);

  function say(element, text) { if (element) element.textContent = text || ""; }
  function l(key) { return form.getAttribute("data-l-" + key) || ""; }

  // --- scanning a household card -------------------------------------------
  function setUpScanner(section) {
    if (!section || !("BarcodeDetector" in window) || !window.createImageBitmap) return;
    section.hidden = false;
    var status = section.querySelector("[data-scan-status]");
    section.querySelector("[data-scan-input]").addEventListener("change", function (event) {
      var file = event.target.files && event.target.files[0];
      if (!file) return;
      var detector = new window.BarcodeDetector({ formats: ["qr_code"] });
      createImageBitmap(file).then(function (bitmap) { return detector.detect(bitmap); }).then(function (codes) {
        for (var i = 0; i < codes.length; i += 1) {
          var url;
          try { url = new URL(codes[i].rawValue, location.href); } catch (error) { continue; }
          if (/^\/q\/[A-Za-z0-9_-]+$/.test(url.pathname)) {
            location.href = url.pathname; // same origin only: never follow a code to another site
            return;
          }
        }
        say(status, section.getAttribute("data-l-none"));
      }).catch(function () { say(status, section.getAttribute("data-l-none")); });
    });
  }

  // --- the visit form ----------------------------------------------------------
  function setUpVisitForm(visitForm) {
    var kindSelect = visitForm.querySelector("select[name=kind]");
    function kind() { return kindSelect ? kindSelect.value : visitForm.getAttribute("data-kind"); }
    function showFieldsForKind() {
      visitForm.querySelectorAll("[data-for-kind]").forEach(function (field) {
        field.hidden = field.getAttribute("data-for-kind") !== kind();
      });
    }
    if (kindSelect) kindSelect.addEventListener("change", showFieldsForKind);
    showFieldsForKind();

    var pad = setUpSignaturePad(visitForm);
    setUpGps(visitForm);
    var status = visitForm.querySelector("[data-form-status]");
    var submit = visitForm.querySelector("[data-submit]");
    var uuidField = visitForm.querySelector("input[name=client_uuid]");
    // A walk-in form may come from the phone's cache: each opening is a new record.
    if (visitForm.hasAttribute("data-walk-in") && window.crypto && crypto.randomUUID) {
      uuidField.value = crypto.randomUUID();
    }
    var clientUuid = uuidField.value;

    if (!window.indexedDB || !window.ReliefOutbox || !window.FormData) return; // plain POST then

    visitForm.addEventListener("submit", function (event) {
      event.preventDefault();
      var problem = precheck(visitForm, kind(), pad);
      if (problem) { say(status, problem); return; }
      submit.disabled = true;
      say(status, l("preparing"));
      collect(visitForm, pad).then(function (parts) {
        return window.ReliefOutbox.put({
          client_uuid: clientUuid,
          url: visitForm.getAttribute("action"),
          title: visitForm.getAttribute("data-title") || "",
          fields: parts.fields,
          files: parts.files,
          status: "pending",
          message: "",
          created_at: Date.now()
        });
      }).then(function () {
        say(status, navigator.onLine ? l("sending") : l("queued"));
        return window.ReliefOutbox.flush();
      }).catch(function () {
        // IndexedDB refused (private mode, full disk): send the form the plain way instead.
        visitForm.submit();
      });
    });

    document.addEventListener("outbox:sent", function (event) {
      if (event.detail.client_uuid === clientUuid && event.detail.url) location.href = event.detail.url;
    });
    document.addEventListener("outbox:failed", function (event) {
      if (event.detail.client_uuid !== clientUuid) return;
      submit.disabled = false;
      say(status, event.detail.message);
    });
    document.addEventListener("outbox:conflict", function (event) {
      if (event.detail.client_uuid !== clientUuid) return;
      submit.disabled = false;
      say(status, l("conflict"));
    });
  }

  function precheck(visitForm, kind, pad) {
    if (!visitForm.querySelector("[name=findings]").value.trim()) return l("need-findings");
    if (kind === "home") {
      if (!visitForm.querySelector("[name=second_investigator]").value) return l("need-second");
      var fallback = visitForm.querySelector("input[name=signature]");
      var hasFile = fallback && fallback.files && fallback.files.length;
      if (!(pad && pad.signed()) && !hasFile && visitForm.getAttribute("data-signed") !== "1") return l("need-signature");
    }
    return "";
  }

  function collect(visitForm, pad) {
    var fields = [];
    var data = new FormData(visitForm);
    data.forEach(function (value, name) {
      if (typeof value === "string" && name !== "_csrf_token") fields.push([name, value]);
    });
    var jobs = [];
    var photos = visitForm.querySelector("input[name=photos]");
    Array.prototype.forEach.call((photos && photos.files) || [], function (file) {
      jobs.push(downscale(file).then(function (out) { return { field: "photos", name: out.name, blob: out.blob }; }));
    });
    if (pad && pad.signed()) {
      jobs.push(pad.toBlob().then(function (blob) { return { field: "signature", name: "signature.png", blob: blob }; }));
    } else {
      var fallback = visitForm.querySelector("input[name=signature]");
      if (fallback && fallback.files && fallback.files[0]) {
        jobs.push(downscale(fallback.files[0]).then(function (out) {
          return { field: "signature", name: out.name, blob: out.blob };
        }));
      }
    }
    return Promise.all(jobs).then(function (files) { return { fields: fields, files: files }; });
  }

  // A phone photo (~10 MB, 12 MP) becomes ~300 KB at 1600 px before it is kept or sent.
  function downscale(file) {
    var original = { blob: file, name: file.name || "photo.jpg" };
    if (!window.createImageBitmap) return Promise.resolve(original);
    return createImageBitmap(file).then(function (bitmap) {
      var scale = Math.min(1, LONG_EDGE / Math.max(bitmap.width, bitmap.height));
      var canvas = document.createElement("canvas");
      canvas.width = Math.max(1, Math.round(bitmap.width * scale));
      canvas.height = Math.max(1, Math.round(bitmap.height * scale));
      canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
      if (bitmap.close) bitmap.close();
      return new Promise(function (resolve) {
        canvas.toBlob(function (blob) {
          resolve(blob ? { blob: blob, name: original.name.replace(/\.[^.]*$/, "") + ".jpg" } : original);
        }, "image/jpeg", JPEG_QUALITY);
      });
    }).catch(function () {
      return original; // e.g. HEIC the browser cannot decode: the server converts it
    });
  }

  function setUpSignaturePad(visitForm) {
    var holder = visitForm.querySelector("[data-signature-pad]");
    var canvas = holder && holder.querySelector("canvas");
    if (!canvas || !canvas.getContext) return null;
    holder.hidden = false;
    var fallback = visitForm.querySelector("[data-signature-fallback]");
    if (fallback) fallback.hidden = true;
    var context = canvas.getContext("2d");
    context.lineWidth = 3;
    context.lineCap = "round";
    context.strokeStyle = "#000";
    var drawing = false;
    var strokes = 0;
    function point(event) {
      var box = canvas.getBoundingClientRect();
      return { x: (event.clientX - box.left) * canvas.width / box.width, y: (event.clientY - box.top) * canvas.height / box.height };
    }
    canvas.addEventListener("pointerdown", function (event) {
      drawing = true;
      canvas.setPointerCapture(event.pointerId);
      var p = point(event);
      context.beginPath();
      context.moveTo(p.x, p.y);
      event.preventDefault();
    });
    canvas.addEventListener("pointermove", function (event) {
      if (!drawing) return;
      var p = point(event);
      context.lineTo(p.x, p.y);
      context.stroke();
      strokes += 1;
      event.preventDefault();
    });
    function stop() { drawing = false; }
    canvas.addEventListener("pointerup", stop);
    canvas.addEventListener("pointercancel", stop);
    holder.querySelector("[data-signature-clear]").addEventListener("click", function () {
      context.clearRect(0, 0, canvas.width, canvas.height);
      strokes = 0;
    });
    return {
      signed: function () { return strokes > 2; },
      toBlob: function () {
        // White background: a transparent PNG would flatten to white on the server anyway.
        var copy = document.createElement("canvas");
        copy.width = canvas.width;
        copy.height = canvas.height;
        var c = copy.getContext("2d");
        c.fillStyle = "#fff";
        c.fillRect(0, 0, copy.width, copy.height);
        c.drawImage(canvas, 0, 0);
        return new Promise(function (resolve) { copy.toBlob(resolve, "image/png"); });
      }
    };
  }

  function setUpGps(visitForm) {
    var status = visitForm.querySelector("[data-gps-status]");
    var lat = visitForm.querySelector("[data-gps-lat]");
    var lon = visitForm.querySelector("[data-gps-lon]");
    if (!navigator.geolocation || !lat || !lon) return;
    function ask() {
      navigator.geolocation.getCurrentPosition(function (position) {
        lat.value = position.coords.latitude.toFixed(6);
        lon.value = position.coords.longitude.toFixed(6);
        say(status, l("gps-ok") + " (±" + Math.round(position.coords.accuracy) + " m)");
      }, function () {
        say(status, l("gps-none"));
      }, { enableHighAccuracy: true, timeout: 15000, maximumAge: 120000 });
    }
    // Ask only when already allowed, or on the first touch of the form: no prompt on page load.
    if (navigator.permissions && navigator.permissions.query) {
      navigator.permissions.query({ name: "geolocation" }).then(function (state) {
        if (state.state === "granted") ask();
        else if (state.state === "prompt") visitForm.addEventListener("focusin", ask, { once: true });
        else say(status, l("gps-none"));
      }).catch(ask);
    } else {
      ask();
    }
  }
})();
