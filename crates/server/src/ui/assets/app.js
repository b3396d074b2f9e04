// cohort admin page: progressive enhancement only; every page works without it.
// 1. Search as you type: a form with data-live-search="#target" fetches its
//    own results and swaps the target, keeping the URL (so it can be shared).
// 2. Live: the page follows /ui/live and, when the realm moves, fetches
//    itself again and, if what it shows changed, swaps it in (or, while the
//    user is filling a form, says the view is out of date).
// 3. A form is sent once: a second submit while the first is on its way is dropped.
"use strict";
(function () {
  const parser = new DOMParser();
  let pending = null;

  async function fetchPage(url) {
    if (pending) pending.abort();
    pending = new AbortController();
    const res = await fetch(url, { credentials: "same-origin", signal: pending.signal, headers: { "Accept": "text/html" } });
    if (!res.ok && res.status !== 400) throw new Error("HTTP " + res.status);
    return parser.parseFromString(await res.text(), "text/html");
  }

  function swap(doc, selector) {
    const fresh = doc.querySelector(selector);
    const old = document.querySelector(selector);
    if (fresh && old) old.replaceWith(fresh);
  }

  function formUrl(form) {
    const params = new URLSearchParams(new FormData(form));
    for (const [k, v] of [...params.entries()]) if (v === "") params.delete(k);
    const base = form.getAttribute("action").split("#")[0];
    const query = params.toString();
    return query ? base + "?" + query : base;
  }

  for (const form of document.querySelectorAll("form[data-live-search]")) {
    const target = form.dataset.liveSearch;
    let timer = null;
    const run = () => {
      const url = formUrl(form);
      fetchPage(url).then((doc) => {
        swap(doc, target);
        history.replaceState(null, "", url + (location.hash || ""));
      }).catch(() => {});
    };
    form.addEventListener("input", (e) => {
      if (e.target.type !== "search") return;
      clearTimeout(timer);
      timer = setTimeout(run, 200);
    });
    form.addEventListener("change", (e) => { if (e.target.type === "checkbox") run(); });
  }

  document.addEventListener("submit", (e) => {
    const form = e.target;
    if (form.method.toLowerCase() !== "post") return;
    if (form.dataset.sent) { e.preventDefault(); return; }
    form.dataset.sent = "1";
    for (const b of form.querySelectorAll("button[type=submit]")) b.disabled = true;
  });
  window.addEventListener("pageshow", () => {
    for (const f of document.querySelectorAll("form[data-sent]")) {
      delete f.dataset.sent;
      for (const b of f.querySelectorAll("button[type=submit]")) b.disabled = false;
    }
  });

  // A form the user is filling in (not a search, not a checkbox list).
  function busy() {
    const active = document.activeElement;
    if (active && active.form && active.form.method.toLowerCase() === "post" && active.type !== "checkbox") return true;
    for (const el of document.querySelectorAll("form[method=post] input:not([type=hidden]):not([type=checkbox]), form[method=post] textarea")) {
      if (el.value !== el.defaultValue) return true;
    }
    for (const el of document.querySelectorAll("form[method=post] input[type=checkbox]")) {
      if (el.checked !== el.defaultChecked) return true;
    }
    return false;
  }

  const status = document.getElementById("live-status");
  const live = document.body.dataset.live;
  if (live && status && window.EventSource) {
    const source = new EventSource(live);
    source.addEventListener("version", () => {
      if (busy()) {
        status.textContent = "This page changed elsewhere. ";
        const reload = document.createElement("button");
        reload.type = "button";
        reload.textContent = "Reload";
        reload.addEventListener("click", () => location.reload());
        status.append(reload);
        return;
      }
      fetchPage(location.href).then((doc) => {
        const fresh = doc.querySelector("main");
        const old = document.querySelector("main");
        // Only a change to what this page shows is news.
        if (!fresh || !old || fresh.innerHTML === old.innerHTML) return;
        const focused = document.activeElement && document.activeElement.id;
        old.replaceWith(fresh);
        if (focused) { const el = document.getElementById(focused); if (el) el.focus(); }
        status.textContent = "Updated: this page changed elsewhere.";
        setTimeout(() => { if (status.textContent.startsWith("Updated")) status.textContent = ""; }, 4000);
      }).catch(() => {});
    });
  }
})();
