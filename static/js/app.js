// Ticks the elapsed time, countdowns and estimates on cards still in flight; the server
// renders the first value.
(function () {
  function tick() {
    var now = Date.now() / 1000;
    document.querySelectorAll("time.elapsed[data-since]").forEach(function (el) {
      var s = Math.max(0, Math.round(now - Number(el.dataset.since)));
      el.textContent = s < 60 ? s + "s" : Math.floor(s / 60) + "m " + (s % 60) + "s";
    });
    // What a waiting job waits for, counted down from the absolute time the server wrote
    // (so it is right however old the page is): "next in 40 s".
    document.querySelectorAll("time.countdown[data-until]").forEach(function (el) {
      var s = Math.max(0, Math.round(Number(el.dataset.until) - now));
      el.textContent = s < 60 ? s + " s" : Math.floor(s / 60) + " min " + (s % 60) + " s";
    });
    // The learnt estimate (jobs/estimates.py), said as the server says it (upscaler.left).
    document.querySelectorAll(".eta[data-eta]").forEach(function (el) {
      var s = Number(el.dataset.eta) - now;
      el.textContent = s <= 2 ? "almost done"
        : s < 60 ? "about " + Math.max(5, 5 * Math.round(s / 5)) + " s left"
        : "about " + Math.round(s / 60) + " min left";
    });
  }
  setInterval(tick, 1000);
  document.addEventListener("DOMContentLoaded", tick);
})();

// The header's menu on a phone: a disclosure button (aria-expanded) in front of the links.
// Escape closes it and gives the focus back to the button; so does a click elsewhere.
document.documentElement.classList.add("js");
(function () {
  function button() {
    return document.getElementById("menu-button");
  }
  function setOpen(open, refocus) {
    var b = button();
    if (!b) return;
    b.setAttribute("aria-expanded", open ? "true" : "false");
    document.getElementById("topbar").classList.toggle("open", open);
    if (!open && refocus) b.focus();
  }
  document.addEventListener("DOMContentLoaded", function () {
    var b = button();
    if (b) b.hidden = false;
  });
  document.addEventListener("click", function (e) {
    var b = button();
    if (!b || !(e.target instanceof Element)) return;
    if (e.target.closest("#menu-button")) {
      setOpen(b.getAttribute("aria-expanded") !== "true", false);
    } else if (b.getAttribute("aria-expanded") === "true" && !e.target.closest("#site-nav")) {
      setOpen(false, false);
    }
  });
  document.addEventListener("keydown", function (e) {
    var b = button();
    if (e.key !== "Escape" || !b || b.getAttribute("aria-expanded") !== "true") return;
    setOpen(false, true);
  });
})();

// Copy buttons (data-copy="#id" of a field): the clipboard where the browser allows it,
// otherwise the field's text is selected, ready for Ctrl+C. Without JavaScript the
// buttons stay hidden and the field is there to select by hand.
(function () {
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("button[data-copy]").forEach(function (b) { b.hidden = false; });
  });
  function say(button, text) {
    var status = document.getElementById(button.getAttribute("aria-describedby") || "");
    if (status) status.textContent = text;
  }
  document.addEventListener("click", function (e) {
    var button = e.target instanceof Element && e.target.closest("button[data-copy]");
    if (!button) return;
    var field = document.querySelector(button.getAttribute("data-copy"));
    if (!field) return;
    function fallback() {
      field.focus();
      field.select();
      say(button, "Selected: press Ctrl+C (or \u2318C) to copy.");
    }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(field.value).then(function () {
        say(button, "Copied.");
      }, fallback);
    } else {
      fallback();
    }
  });
})();

// A hidden tab polls only every 10 s (not every 2 s): enough to keep its title's
// "(3) done" count right, and it catches up at once when shown again.
// (Here, not in an hx-trigger filter, which htmx would evaluate with Function(): the CSP
// forbids that.)
(function () {
  var lastHidden = 0;
  document.addEventListener("htmx:confirm", function (event) {
    if (event.target.id !== "poller" || document.visibilityState === "visible") return;
    if (Date.now() - lastHidden < 10000) {
      event.preventDefault();
    } else {
      lastHidden = Date.now();
    }
  });
})();

// While some in-flight card is near its learnt estimate (data-eta, jobs/estimates.py),
// from SOON_BEFORE s before it until SOON_AFTER s after it, the live poll goes out every
// 0.5 s (the "upscaler:soon" trigger of #poller) besides its 2-s beat: a card then shows
// success about 0.25 s after the job's, not 1 s on average. An idle gallery, a card with
// no estimate or one long past it polls as before; a hidden tab keeps the 10-s rule above.
(function () {
  var FAST = 500, SOON_BEFORE = 4, SOON_AFTER = 20;
  var last = 0;
  function nearEstimate(now) {
    var etas = document.querySelectorAll(".card .eta[data-eta]");
    for (var i = 0; i < etas.length; i++) {
      var left = Number(etas[i].dataset.eta) - now;
      if (left <= SOON_BEFORE && left >= -SOON_AFTER) return true;
    }
    return false;
  }
  document.addEventListener("htmx:beforeRequest", function (event) {
    if (event.target.id === "poller") last = Date.now();
  });
  setInterval(function () {
    var poller = document.getElementById("poller");
    if (!poller || poller.dataset.live !== "true" || !window.htmx) return;
    if (document.visibilityState !== "visible" || Date.now() - last < FAST - 50) return;
    if (nearEstimate(Date.now() / 1000)) window.htmx.trigger(poller, "upscaler:soon");
  }, FAST);
})();

// Reads out a card's new state ("beach.jpg: Success") when the live poll swaps it in.
(function () {
  var pending = new Map();
  document.addEventListener("htmx:oobAfterSwap", function (event) {
    var card = event.target;
    if (!card.classList || !card.classList.contains("card")) return;
    var badge = card.querySelector(".badge");
    var first = pending.size === 0;
    pending.set(card.id, card.getAttribute("aria-label") + ": " + (badge ? badge.textContent.trim() : ""));
    if (first) {
      setTimeout(function () {
        var announcer = document.getElementById("announcer");
        if (announcer) announcer.textContent = Array.from(pending.values()).join(". ");
        pending.clear();
      }, 0);
    }
  });
})();

// Ticked cards stay ticked when the live poll redraws them; "select all"; and a
// confirmation before a destructive button (data-confirm) does its work.
(function () {
  var picked = new Set();
  document.addEventListener("change", function (e) {
    var el = e.target;
    if (el.matches && el.matches("input.select")) {
      if (el.checked) picked.add(el.value); else picked.delete(el.value);
    } else if (el.matches && el.matches("input[data-select-all]")) {
      document.querySelectorAll("#job-grid input.select").forEach(function (box) {
        box.checked = el.checked;
        if (el.checked) picked.add(box.value); else picked.delete(box.value);
      });
    }
  });
  document.addEventListener("htmx:afterSettle", function () {
    document.querySelectorAll("#job-grid input.select").forEach(function (box) {
      box.checked = picked.has(box.value);
    });
  });
  document.addEventListener("click", function (e) {
    var button = e.target instanceof Element && e.target.closest("[data-confirm]");
    if (button && !window.confirm(button.getAttribute("data-confirm"))) e.preventDefault();
  });
})();

// The tab's title counts the images that finished while you looked elsewhere:
// "(3) done · Gallery". Looking at the tab again clears it.
(function () {
  var DONE = ["success", "failed"];
  var known = new Map();
  var count = 0;
  var title = document.title;
  function scan(counting) {
    document.querySelectorAll("#job-grid .card[data-code]").forEach(function (card) {
      var state = card.getAttribute("data-state");
      var before = known.get(card.dataset.code);
      if (counting && before !== state && DONE.indexOf(state) >= 0 && DONE.indexOf(before) < 0) {
        count += 1;
      }
      known.set(card.dataset.code, state);
    });
    document.title = count ? "(" + count + ") done · " + title : title;
  }
  document.addEventListener("DOMContentLoaded", function () {
    title = document.title;
    scan(false);
  });
  document.addEventListener("htmx:afterSettle", function () {
    scan(!document.hasFocus() || document.visibilityState !== "visible");
  });
  function seen() {
    count = 0;
    document.title = title;
  }
  window.addEventListener("focus", seen);
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible" && document.hasFocus()) seen();
  });
})();

// Cancel and Retry answer with their own card; their answer's HX-Trigger (jobs-changed)
// makes the poller look at once for the rest (a retry's new card, the spend), even on a
// page that was not polling because nothing was in flight. If a poll is in flight just
// then, the look waits for it: htmx would queue it on that poller, and drop it when the
// answer replaces the poller, though that answer may predate the change.
(function () {
  var inFlight = null; // the poller whose request is out
  var again = false;
  function pollNow() {
    var poller = document.getElementById("poller");
    if (!poller || !window.htmx) return;
    if (inFlight && inFlight.isConnected) { // (a poll from a poller gone is dropped, below)
      again = true;
    } else {
      htmx.ajax("GET", poller.getAttribute("hx-get"), { source: poller, swap: "none" });
    }
  }
  document.addEventListener("jobs-changed", pollNow);
  document.addEventListener("htmx:beforeRequest", function (event) {
    if (event.detail.elt.id === "poller") inFlight = event.detail.elt;
  });
  // Fired on the closest element still on the page once the answer replaced the poller.
  document.addEventListener("htmx:afterRequest", function (event) {
    var config = event.detail.requestConfig;
    if (!inFlight || !config || config.elt !== inFlight) return;
    inFlight = null;
    if (again) {
      again = false;
      pollNow();
    }
  });
})();

// htmx swaps an answer relative to the element that asked for it, and looks for its
// out-of-band parts in that element's tree only (htmx 2's swap: getRootNode of the
// element). If the element left the page while its request was in flight (the live poll
// redrew the card whose Retry was clicked; a submit's answer redrew the workspace, poller
// and all), that tree is a detached fragment: the card, #messages, #spend, and the
// answer's HX-Trigger (fired on the detached element, it reaches no listener) were lost,
// with htmx:oobErrorNoTarget in the console. Such an answer is taken over before htmx
// handles it (htmx:beforeOnLoad, listened to on the element itself: from a detached
// element no event bubbles up to the document):
// - a poll's is dropped: what replaced the poller drew a newer page; a new poll goes out;
// - any other (Cancel's, Retry's, a preset's) is swapped into the page as it is now: in
//   place of the element with its target's id if there is one, its out-of-band parts
//   against the whole page, and its HX-Trigger events fired on <body>.
(function () {
  var watched = new WeakSet();
  function triggers(xhr) {
    var header = xhr.getResponseHeader("HX-Trigger");
    if (!header) return {};
    try {
      return JSON.parse(header);
    } catch (e) { // the plain form: "a, b"
      var named = {};
      header.split(",").forEach(function (name) { named[name.trim()] = null; });
      return named;
    }
  }
  function takeOver(event) {
    var elt = event.currentTarget, detail = event.detail, xhr = detail.xhr;
    if (detail.elt !== elt || elt.isConnected) return; // on the page: htmx's own way
    event.preventDefault();
    if (elt.id === "poller") {
      document.body.dispatchEvent(new CustomEvent("jobs-changed", { bubbles: true }));
      return;
    }
    // As the page's htmx-config: 204 and 5xx swap nothing.
    if (xhr.status !== 204 && xhr.status < 500) {
      var target = detail.target && detail.target.id && document.getElementById(detail.target.id);
      var swap = (elt.closest("[hx-swap]") || elt).getAttribute("hx-swap") || "innerHTML";
      detail.target = target || document.body; // the swap's events carry it, as htmx's do
      htmx.swap(detail.target, xhr.response, { swapStyle: target ? swap.split(" ")[0] : "none" }, { eventInfo: detail });
    }
    var events = triggers(xhr);
    Object.keys(events).forEach(function (name) { htmx.trigger(document.body, name, events[name]); });
  }
  document.addEventListener("htmx:beforeRequest", function (event) {
    var elt = event.detail.elt;
    if (watched.has(elt)) return;
    watched.add(elt);
    elt.addEventListener("htmx:beforeOnLoad", takeOver);
  });
})();

// A card swapped in place (Cancel's or Retry's answer, a live update of the grid) takes
// the focused button with it, and the focus would fall back to <body>. Put it on the same
// card's matching control, or its next action (Cancel -> Retry -> "Retried -> new job").
(function () {
  var last = null; // {el, code, text} of the last focused control on a card
  document.addEventListener("focusin", function (e) {
    var card = e.target instanceof Element && e.target.closest("#job-grid .card[data-code]");
    last = card ? { el: e.target, code: card.dataset.code, text: e.target.textContent.trim() } : null;
  });
  function restore() {
    if (!last || last.el.isConnected) return; // still there, or the user went elsewhere
    var active = document.activeElement;
    if (active && active !== document.body) return;
    var card = document.querySelector('#job-grid .card[data-code="' + last.code + '"]');
    if (!card) return;
    var controls = Array.from(card.querySelectorAll("a[href], button, input:not([type=hidden])"));
    var target = controls.find(function (el) { return el.textContent.trim() === last.text && last.text !== ""; })
      || card.querySelector(".card-body form button, .card-body .retried a, .card-body .actions a")
      || controls[0];
    if (target) target.focus({ preventScroll: true });
  }
  document.addEventListener("htmx:afterSettle", restore);
  document.addEventListener("htmx:oobAfterSwap", restore);
})();
