// Ticks the elapsed time on cards still in flight; the server renders the first value.
(function () {
  function tick() {
    var now = Date.now() / 1000;
    document.querySelectorAll("time.elapsed[data-since]").forEach(function (el) {
      var s = Math.max(0, Math.round(now - Number(el.dataset.since)));
      el.textContent = s < 60 ? s + "s" : Math.floor(s / 60) + "m " + (s % 60) + "s";
    });
  }
  setInterval(tick, 1000);
  document.addEventListener("DOMContentLoaded", tick);
})();

// Shows what a submission will cost before it is sent: "3 images = $0.03, $0.97 left".
(function () {
  function dollars(cents) {
    return "$" + Math.floor(cents / 100) + "." + String(cents % 100).padStart(2, "0");
  }
  function update() {
    var cost = document.getElementById("cost");
    var form = document.getElementById("submit-form");
    if (!cost || !form) return;
    var lines = form.querySelector("textarea[name=urls]").value.split("\n").filter(function (l) {
      return l.trim() !== "";
    }).length;
    var files = form.querySelector("input[type=file]").files.length;
    var n = lines + files;
    var price = Number(cost.dataset.priceCents);
    var left = cost.dataset.leftCents === "" ? null : Number(cost.dataset.leftCents);
    var text = n === 0 ? dollars(price) + " per image" : n + (n === 1 ? " image" : " images") + " = " + dollars(n * price);
    if (left !== null) text += ", " + dollars(left) + " left";
    cost.textContent = text;
    cost.classList.toggle("over", left !== null && n * price > left);
  }
  document.addEventListener("input", update);
  document.addEventListener("change", update);
  document.addEventListener("htmx:afterSettle", update);
})();

// The context switcher in the header switches as soon as a team is picked (its button is
// only for visitors without JavaScript).
document.documentElement.classList.add("js");
document.addEventListener("change", function (e) {
  var el = e.target;
  if (el instanceof HTMLSelectElement && el.hasAttribute("data-autosubmit") && el.form) {
    el.form.requestSubmit();
  }
});

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

// Many files at once: drop them on the form, or paste images or links into it; a bar
// shows the upload's progress (htmx's xhr progress events).
(function () {
  function fileInput() {
    return document.querySelector("#submit-form input[name=images]");
  }
  function addFiles(files) {
    var input = fileInput();
    if (!input || !files.length) return;
    var all = new DataTransfer();
    Array.from(input.files).forEach(function (f) { all.items.add(f); });
    Array.from(files).forEach(function (f) {
      if (f.type === "" || f.type.indexOf("image/") === 0) all.items.add(f);
    });
    input.files = all.files;
    input.dispatchEvent(new Event("change", { bubbles: true }));
  }
  function inForm(target) {
    return target instanceof Element && target.closest("#submit-form");
  }
  document.addEventListener("dragover", function (e) {
    if (!inForm(e.target)) return;
    e.preventDefault();
    document.getElementById("submit-form").classList.add("dragging");
  });
  document.addEventListener("dragleave", function (e) {
    var form = document.getElementById("submit-form");
    if (form && !form.contains(e.relatedTarget)) form.classList.remove("dragging");
  });
  document.addEventListener("drop", function (e) {
    if (!inForm(e.target)) return;
    e.preventDefault();
    document.getElementById("submit-form").classList.remove("dragging");
    addFiles(e.dataTransfer.files);
    var text = e.dataTransfer.getData("text/uri-list") || e.dataTransfer.getData("text/plain");
    if (!e.dataTransfer.files.length && text) addLinks(text);
  });
  function addLinks(text) {
    var urls = document.querySelector("#submit-form textarea[name=urls]");
    var links = text.split(/\s+/).filter(function (t) { return /^https?:\/\//i.test(t); });
    if (!urls || !links.length) return false;
    urls.value = (urls.value.trim() ? urls.value.trim() + "\n" : "") + links.join("\n");
    urls.dispatchEvent(new Event("input", { bubbles: true }));
    return true;
  }
  // "Try a sample" (development): the link goes into the box instead of opening.
  document.addEventListener("click", function (e) {
    var link = e.target instanceof Element && e.target.closest("a[data-sample]");
    if (link && addLinks(link.href)) e.preventDefault();
  });
  document.addEventListener("paste", function (e) {
    if (!inForm(e.target) || !e.clipboardData) return;
    if (e.clipboardData.files.length) {
      e.preventDefault();
      addFiles(e.clipboardData.files);
    } else if (e.target.name !== "urls" && addLinks(e.clipboardData.getData("text"))) {
      e.preventDefault();
    }
  });
  document.addEventListener("htmx:xhr:progress", function (e) {
    var bar = document.getElementById("upload-progress");
    if (!bar || !inForm(e.target) || !e.detail.lengthComputable) return;
    bar.hidden = false;
    bar.value = Math.round((e.detail.loaded / e.detail.total) * 100);
    bar.textContent = bar.value + "%";
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

// The before/after compare on the job page: the range input (keyboard: arrow keys, Page
// Up/Down, Home/End) moves the divide; dragging on the picture moves the range.
(function () {
  function stage() {
    return document.getElementById("compare-stage");
  }
  function show(value) {
    var s = stage();
    if (s) s.style.setProperty("--pos", value + "%");
  }
  document.addEventListener("input", function (e) {
    if (e.target.id === "compare-range") show(e.target.value);
  });
  document.addEventListener("change", function (e) {
    var s = stage();
    if (e.target.id === "compare-zoom" && s) s.style.setProperty("--zoom", e.target.value);
  });
  var dragging = false;
  function follow(e) {
    var s = stage();
    var range = document.getElementById("compare-range");
    if (!s || !range) return;
    var box = s.getBoundingClientRect();
    var value = Math.round(((e.clientX - box.left) / box.width) * 100);
    range.value = String(Math.max(0, Math.min(100, value)));
    show(range.value);
  }
  document.addEventListener("pointerdown", function (e) {
    if (e.target instanceof Element && e.target.closest("#compare-stage")) {
      dragging = true;
      follow(e);
    }
  });
  document.addEventListener("pointermove", function (e) {
    if (dragging) follow(e);
  });
  document.addEventListener("pointerup", function () {
    dragging = false;
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
// page that was not polling because nothing was in flight.
document.addEventListener("jobs-changed", function () {
  var poller = document.getElementById("poller");
  if (poller && window.htmx) {
    htmx.ajax("GET", poller.getAttribute("hx-get"), { source: poller, swap: "none" });
  }
});
