// Sunshine Relief service worker (served at /sw.js, scope "/").
// Keeps the app shell, and the pages a field worker needs offline: the visit
// list, each visit and the files of those households (cached network-first, so
// online pages are always fresh). Posting is left to the page's outbox.
"use strict";
// Served by relief_pwa/handlers/assets.py: the cache name becomes "relief-static-"
// plus a digest of every static file's hash, and the shell lists hashed names.
var STATIC_CACHE = "relief-static-dev";
var PAGES_CACHE = "relief-pages-v1"; // also filled by static/js/outbox.js; emptied on logout
var SHELL = [
  "/offline",
  "/static/css/app.css",
  "/static/vendor/htmx-2.0.11.min.js",
  "/static/js/app.js",
  "/static/js/outbox.js",
  "/static/js/visit-form.js",
  "/static/manifest.webmanifest",
  "/static/icons/icon-192.png",
  "/static/icons/favicon.ico"
];
var KEPT_PAGES = [
  /^\/$/,
  /^\/intake$/,
  /^\/visits$/,
  /^\/visits\/\d+$/,
  /^\/households\/\d+$/,
  /^\/households\/\d+\/(ledger|visits|card)$/,
  /^\/households\/\d+\/visits\/record$/,
  /^\/photos\/\d+\/thumb$/,
  /^\/scan$/
];

self.addEventListener("install", function (event) {
  event.waitUntil(caches.open(STATIC_CACHE).then(function (cache) {
    return cache.addAll(SHELL);
  }).then(function () { return self.skipWaiting(); }));
});

self.addEventListener("activate", function (event) {
  event.waitUntil(caches.keys().then(function (names) {
    return Promise.all(names.filter(function (name) {
      return name.indexOf("relief-static-") === 0 && name !== STATIC_CACHE;
    }).map(function (name) { return caches.delete(name); }));
  }).then(function () { return self.clients.claim(); }));
});

function kept(pathname) {
  return KEPT_PAGES.some(function (pattern) { return pattern.test(pathname); });
}

self.addEventListener("fetch", function (event) {
  var request = event.request;
  if (request.method !== "GET") return;
  var url = new URL(request.url);
  if (url.origin !== self.location.origin || url.pathname === "/sw.js") return;

  if (url.pathname.indexOf("/static/") === 0) {
    event.respondWith(caches.match(request).then(function (cached) {
      return cached || fetch(request).then(function (response) {
        if (response.ok) {
          var copy = response.clone();
          caches.open(STATIC_CACHE).then(function (cache) { cache.put(request, copy); });
        }
        return response;
      });
    }));
    return;
  }

  var isFragment = request.headers.get("hx-request") === "true";
  var keep = kept(url.pathname) && !isFragment && !url.search;
  if (!keep && request.mode !== "navigate") return;
  event.respondWith(fetch(request).then(function (response) {
    // Never keep a login redirect or an error page in place of a file.
    if (keep && response.ok && !response.redirected) {
      var copy = response.clone();
      caches.open(PAGES_CACHE).then(function (cache) { cache.put(url.pathname, copy); });
    }
    return response;
  }).catch(function () {
    return caches.match(url.pathname, { cacheName: PAGES_CACHE }).then(function (cached) {
      if (cached) return cached;
      if (request.mode === "navigate") return caches.match("/offline");
      return Response.error();
    });
  }));
});
