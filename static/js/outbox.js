// Sunshine Relief offline outbox: visit records (with photos) filled without a
// connection wait in IndexedDB under their client-generated id and are sent
// when the connection returns. The server treats a resend of the same id as the
// same record; a record based on an outdated version comes back as a conflict
// (HTTP 409 with both versions) and waits here until the user chooses.
(function () {
  "use strict";
  var DB_NAME = "relief-outbox";
  var STORE = "records";
  var PAGES_CACHE = "relief-pages-v1";
  var flushing = false;

  function openDb() {
    return new Promise(function (resolve, reject) {
      var request = indexedDB.open(DB_NAME, 1);
      request.onupgradeneeded = function () {
        request.result.createObjectStore(STORE, { keyPath: "client_uuid" });
      };
      request.onsuccess = function () { resolve(request.result); };
      request.onerror = function () { reject(request.error); };
    });
  }

  function withStore(mode, action) {
    return openDb().then(function (db) {
      return new Promise(function (resolve, reject) {
        var transaction = db.transaction(STORE, mode);
        var request = action(transaction.objectStore(STORE));
        transaction.oncomplete = function () {
          db.close();
          resolve(request ? request.result : undefined);
        };
        transaction.onerror = function () { db.close(); reject(transaction.error); };
        transaction.onabort = function () { db.close(); reject(transaction.error); };
      });
    });
  }

  function currentUser() {
    var holder = document.querySelector("[data-outbox-user]");
    return holder ? holder.getAttribute("data-outbox-user") : "";
  }

  function csrfToken() {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["x-csrftoken"] || "";
    } catch (error) {
      return "";
    }
  }

  function mine(records) {
    var user = currentUser();
    return records.filter(function (r) { return !user || !r.user || r.user === user; });
  }

  var Outbox = {
    all: function () {
      return withStore("readonly", function (store) { return store.getAll(); }).then(function (records) {
        return mine(records || []).sort(function (a, b) { return a.created_at - b.created_at; });
      });
    },
    get: function (id) {
      return withStore("readonly", function (store) { return store.get(id); });
    },
    put: function (record) {
      record.user = record.user || currentUser();
      return withStore("readwrite", function (store) { store.put(record); }).then(render);
    },
    remove: function (id) {
      return withStore("readwrite", function (store) { store.delete(id); }).then(render);
    },
    flush: flush,
    render: render
  };
  window.ReliefOutbox = Outbox;

  function emit(name, detail) {
    document.dispatchEvent(new CustomEvent(name, { detail: detail }));
  }

  function buildBody(record) {
    var body = new FormData();
    record.fields.forEach(function (pair) { body.append(pair[0], pair[1]); });
    (record.files || []).forEach(function (file) { body.append(file.field, file.blob, file.name); });
    return body;
  }

  function send(record) {
    return fetch(record.url, {
      method: "POST",
      body: buildBody(record),
      credentials: "same-origin",
      headers: { "x-csrftoken": csrfToken(), "x-outbox": "1", "accept": "application/json" }
    }).then(function (response) {
      if (response.ok) {
        return response.json().then(function (result) {
          rememberSent(record, result);
          refreshKept(result);
          return Outbox.remove(record.client_uuid).then(function () {
            emit("outbox:sent", { client_uuid: record.client_uuid, url: result.url, result: result });
            return "sent";
          });
        });
      }
      if (response.status === 409) {
        return response.text().then(function (html) {
          record.status = "conflict";
          record.conflict_html = html;
          return Outbox.put(record).then(function () {
            emit("outbox:conflict", { client_uuid: record.client_uuid });
            return "conflict";
          });
        });
      }
      return response.text().then(function (text) {
        var message = text;
        try {
          var data = JSON.parse(text);
          message = data.errors ? Object.keys(data.errors).map(function (k) { return data.errors[k]; }).join(" ")
            : (data.detail || text);
        } catch (error) { /* an HTML error page: keep its status only */ message = "HTTP " + response.status; }
        // Not logged in or the form token is stale: keep the record and wait for a new login.
        record.status = response.status === 401 || response.status === 403 ? "auth" : "failed";
        record.message = message;
        return Outbox.put(record).then(function () {
          emit("outbox:failed", { client_uuid: record.client_uuid, message: message });
          return record.status;
        });
      });
    }, function () {
      return "offline"; // no connection: the record stays pending
    });
  }

  function flush() {
    if (flushing || !navigator.onLine) return Promise.resolve();
    flushing = true;
    return Outbox.all().then(function (records) {
      var pending = records.filter(function (r) { return r.status === "pending" || r.status === "auth"; });
      var chain = Promise.resolve("start");
      pending.forEach(function (record) {
        chain = chain.then(function (previous) {
          if (previous === "offline" || previous === "auth") return previous;
          markSending(record.client_uuid);
          return send(record);
        });
      });
      return chain;
    }).catch(function () { /* IndexedDB unavailable: nothing to send */ }).then(function () {
      flushing = false;
      return render();
    });
  }

  // Pages kept for offline reading that this record changed are fetched again.
  function refreshKept(result) {
    if (!("caches" in window) || !result.household_id) return;
    var urls = ["/households/" + result.household_id, "/households/" + result.household_id + "/ledger", result.url];
    caches.open(PAGES_CACHE).then(function (cache) {
      urls.forEach(function (url) {
        cache.match(url).then(function (kept) {
          if (!kept) return undefined;
          return fetch(url, { credentials: "same-origin" }).then(function (response) {
            if (response.ok && !response.redirected) return cache.put(url, response);
            return undefined;
          });
        }).catch(function () {});
      });
    });
  }

  function rememberSent(record, result) {
    try {
      var sent = JSON.parse(sessionStorage.getItem("relief-outbox-sent") || "[]");
      sent.unshift({ title: record.title, url: result.url, duplicate: result.duplicate, at: Date.now() });
      sessionStorage.setItem("relief-outbox-sent", JSON.stringify(sent.slice(0, 5)));
    } catch (error) { /* private mode: nothing to remember */ }
  }

  function markSending(id) {
    var item = document.querySelector('[data-outbox-list] li[data-uuid="' + id + '"]');
    if (item) item.className = "is-sending";
  }

  function text(panel, key, fallback) {
    return (panel && panel.getAttribute("data-l-" + key)) || fallback;
  }

  function render() {
    return Outbox.all().then(function (records) {
      var count = document.querySelector("[data-outbox-user]");
      if (count) {
        count.hidden = records.length === 0;
        count.textContent = records.length + " " + (count.getAttribute("data-label") || "");
      }
      document.querySelectorAll("[data-outbox-panel]").forEach(function (panel) {
        var list = panel.querySelector("[data-outbox-list]");
        var empty = panel.querySelector("[data-outbox-empty]");
        list.textContent = "";
        records.forEach(function (record) {
          var item = document.createElement("li");
          item.setAttribute("data-uuid", record.client_uuid);
          item.className = "is-" + record.status;
          var title = document.createElement("strong");
          title.textContent = record.title || record.client_uuid;
          item.appendChild(title);
          var state = document.createElement("span");
          state.setAttribute("data-outbox-state", record.status);
          state.textContent = text(panel, record.status, record.status) +
            ((record.files || []).length ? " · " + record.files.length + " " + text(panel, "files", "") : "");
          item.appendChild(state);
          if (record.message) {
            var message = document.createElement("span");
            message.className = "field-error";
            message.textContent = record.message;
            item.appendChild(message);
          }
          if (record.status === "conflict" && record.conflict_html) {
            var conflict = document.createElement("div");
            conflict.className = "outbox-conflict";
            // Our own server's fragment (same origin; the page's CSP blocks any script in it).
            conflict.innerHTML = record.conflict_html;
            item.appendChild(conflict);
          } else {
            item.appendChild(button(text(panel, "retry", "↻"), "retry"));
            item.appendChild(button(text(panel, "discard", "✕"), "discard"));
          }
          list.appendChild(item);
        });
        // What was sent is no longer waiting: it goes to its own short list (this
        // session, the last ten minutes), never under "waiting to be sent".
        var sent = [];
        try { sent = JSON.parse(sessionStorage.getItem("relief-outbox-sent") || "[]"); } catch (error) { sent = []; }
        sent = sent.filter(function (entry) { return Date.now() - entry.at < 600000; });
        var sentBox = panel.querySelector("[data-outbox-sent]");
        var sentList = panel.querySelector("[data-outbox-sent-list]");
        if (sentList) {
          sentList.textContent = "";
          sent.forEach(function (entry) {
            var item = document.createElement("li");
            item.className = "is-sent";
            var link = document.createElement("a");
            link.href = entry.url;
            link.textContent = (entry.title || entry.url) + " · " + text(panel, "sent", "sent");
            item.appendChild(link);
            sentList.appendChild(item);
          });
          if (sentBox) sentBox.hidden = sent.length === 0;
        }
        if (empty) empty.hidden = records.length > 0;
      });
      return records;
    }).catch(function () { return []; });
  }

  function button(label, action) {
    var element = document.createElement("button");
    element.type = "button";
    element.className = "btn btn-link";
    element.setAttribute("data-outbox-action", action);
    element.textContent = label;
    return element;
  }

  document.addEventListener("click", function (event) {
    var target = event.target.closest ? event.target.closest("[data-outbox-action]") : null;
    if (!target) return;
    var item = target.closest("li[data-uuid]");
    if (!item) return;
    var id = item.getAttribute("data-uuid");
    var panel = target.closest("[data-outbox-panel]");
    var action = target.getAttribute("data-outbox-action");
    if (action === "discard") {
      if (window.confirm(text(panel, "confirm-discard", "?"))) Outbox.remove(id);
      return;
    }
    Outbox.get(id).then(function (record) {
      if (!record) return undefined;
      if (action === "override") {
        // The user chose their version: base it on the version now stored.
        var version = target.getAttribute("data-current-version");
        record.fields = record.fields.filter(function (pair) { return pair[0] !== "base_version"; });
        record.fields.push(["base_version", version]);
        record.conflict_html = "";
      }
      record.status = "pending";
      record.message = "";
      return Outbox.put(record).then(flush);
    });
  });

  // Keep the visit list and its households' files on the phone for offline reading.
  function cacheForOffline() {
    var holder = document.querySelector("[data-offline-urls]");
    if (!holder || !("caches" in window) || !navigator.onLine) return;
    var urls = (holder.getAttribute("data-offline-urls") || "").split(" ").filter(Boolean);
    caches.open(PAGES_CACHE).then(function (cache) {
      urls.forEach(function (url) {
        fetch(url, { credentials: "same-origin" }).then(function (response) {
          if (response.ok && !response.redirected) return cache.put(url, response);
          return undefined;
        }).catch(function () { /* offline again: keep what is cached */ });
      });
    });
  }

  // Personal data must not outlive the session on a shared phone.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.action || !/\/logout$/.test(form.action) || !("caches" in window) || form.dataset.cleared) return;
    event.preventDefault();
    caches.delete(PAGES_CACHE).catch(function () {}).then(function () {
      form.dataset.cleared = "1";
      form.submit();
    });
  });

  window.addEventListener("online", flush);
  document.addEventListener("visibilitychange", function () { if (!document.hidden) flush(); });
  render();
  flush();
  cacheForOffline();
  setInterval(flush, 30000);
})();
