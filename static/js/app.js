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

// Shows what a submission will cost before it is sent: "3 images = $0.03, $0.97 left".
// The files counted are the picked ones (below), a picture picked twice once; "left" is
// the server's, and the live poll swaps in a fresh one (an out-of-band #cost).
function upscalerCost() {
  function dollars(cents) {
    return "$" + Math.floor(cents / 100) + "." + String(cents % 100).padStart(2, "0");
  }
  var cost = document.getElementById("cost");
  var form = document.getElementById("submit-form");
  if (!cost || !form) return;
  var lines = form.querySelector("textarea[name=urls]").value.split("\n").filter(function (l) {
    return l.trim() !== "";
  }).length;
  var files = window.upscalerPicked ? window.upscalerPicked.count() : form.querySelector("input[type=file]").files.length;
  var n = lines + files;
  var price = Number(cost.dataset.priceCents);
  var left = cost.dataset.leftCents === "" ? null : Number(cost.dataset.leftCents);
  var text = n === 0 ? dollars(price) + " per image" : n + (n === 1 ? " image" : " images") + " = " + dollars(n * price);
  if (left !== null) text += ", " + dollars(left) + " left";
  if (cost.textContent !== text) cost.textContent = text; // a live region: only news is read out
  cost.classList.toggle("over", left !== null && n * price > left);
}
document.addEventListener("input", upscalerCost);
document.addEventListener("change", upscalerCost);
document.addEventListener("htmx:afterSettle", upscalerCost);
document.addEventListener("htmx:oobAfterSwap", function (event) {
  if (event.target.id === "cost") upscalerCost();
});

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

// The picked files, held here (not only in the file input, which a refused batch's new
// form would empty): a thumbnail of each with its name, size and pixel size and a Remove
// button, marked at once with what the server would refuse (its limits are the form's
// data-* attributes, rendered from settings). A refused batch keeps every file: the new
// form gets them back, and the server's reasons (#file-errors) land on their thumbnails.
// Many files at once: drop them on the form, or paste images or links into it; a bar
// shows the upload's progress (htmx's xhr progress events).
(function () {
  var picked = []; // {file, key, thumb (a canvas), width, height, measured, server}
  var hashes = new Map(); // file key -> SHA-256 of its bytes (where the browser can)

  function form() { return document.getElementById("submit-form"); }
  function fileInput() { return document.querySelector("#submit-form input[name=images]"); }
  function keyOf(f) { return f.name + "\u0000" + f.size + "\u0000" + f.lastModified; }
  function limits() {
    var d = form().dataset;
    var edges = {};
    (d.edges || "").split(",").forEach(function (pair) {
      var kv = pair.split(":");
      if (kv.length === 2) edges[kv[0]] = Number(kv[1]);
    });
    return {
      maxBytes: Number(d.maxBytes), maxMb: d.maxMb, maxPixels: Number(d.maxPixels),
      maxFiles: Number(d.maxFiles), types: (d.types || "").split(","),
      extensions: (d.extensions || "").split(","), edges: edges,
    };
  }
  function humanSize(bytes) {
    if (bytes < 1024) return bytes + " B";
    if (bytes < 1024 * 1024) return Math.round(bytes / 1024) + " KB";
    return (bytes / (1024 * 1024)).toFixed(1) + " MB";
  }
  function lineCount() {
    var urls = document.querySelector("#submit-form textarea[name=urls]");
    return urls ? urls.value.split("\n").filter(function (l) { return l.trim() !== ""; }).length : 0;
  }
  // The first file of each picture: a repeat is upscaled, and charged, once.
  function firstOf(entry) {
    var hash = hashes.get(entry.key);
    for (var i = 0; i < picked.length; i++) {
      var other = picked[i];
      if (other === entry) return null;
      if (other.key === entry.key || (hash && hashes.get(other.key) === hash)) return other;
    }
    return null;
  }
  // What the server would refuse (problems) and what it would only warn about (notes).
  function judge(entry, index, lim) {
    var f = entry.file, problems = [], notes = [];
    var ext = (f.name.split(".").pop() || "").toLowerCase();
    entry.wrongType = lim.types.indexOf(f.type) < 0 && lim.extensions.indexOf(ext) < 0;
    if (entry.wrongType) problems.push("Not a JPG, PNG, WebP, HEIC or AVIF image.");
    if (f.size > lim.maxBytes) problems.push("Larger than " + lim.maxMb + " MB.");
    if (entry.width && entry.width * entry.height > lim.maxPixels) {
      problems.push("More than " + Math.round(lim.maxPixels / 1e6) + " megapixels.");
    }
    if (lineCount() + index + 1 > lim.maxFiles) {
      problems.push("Past the " + lim.maxFiles + " images one batch takes.");
    }
    if (entry.server) problems.push(entry.server);
    var first = firstOf(entry);
    if (first) notes.push("Same picture as " + first.file.name + ": upscaled, and charged, once.");
    var tier = document.querySelector("#submit-form select[name=resolution]");
    var edge = tier ? lim.edges[tier.value] : 0;
    var skip = document.querySelector("#submit-form input[name=skip_small]");
    if (edge && entry.width && Math.max(entry.width, entry.height) >= edge) {
      notes.push("Already " + Math.max(entry.width, entry.height) + " px: " + tier.value + " (" + edge +
        " px) won't enlarge it" + (skip && skip.checked ? "; it will be skipped, no charge." : "."));
    }
    return { problems: problems, notes: notes, repeat: !!first };
  }
  function render() {
    var list = document.getElementById("picked");
    var summary = document.getElementById("pick-summary");
    if (!list || !form()) return;
    var lim = limits();
    // Redrawn whole: a keyboard user's place on a Remove button is kept.
    var active = document.activeElement;
    var focused = active && active.classList.contains("pick-remove") && list.contains(active)
      ? Array.from(list.querySelectorAll(".pick-remove")).indexOf(active) : -1;
    list.textContent = "";
    list.hidden = picked.length === 0;
    var bad = 0;
    picked.forEach(function (entry, index) {
      var verdict = judge(entry, index, lim);
      if (verdict.problems.length) bad += 1;
      var li = document.createElement("li");
      li.className = "pick" + (verdict.problems.length ? " pick-bad" : "");
      li.dataset.name = entry.file.name;
      var img = entry.thumb || document.createElement("span");
      img.className = "pick-thumb";
      var body = document.createElement("div");
      body.className = "pick-body";
      var name = document.createElement("div");
      name.className = "pick-name";
      name.textContent = entry.file.name;
      var meta = document.createElement("div");
      meta.className = "pick-meta";
      meta.textContent = humanSize(entry.file.size) + (entry.wrongType ? "" : " · " +
        (entry.width ? entry.width + " × " + entry.height + " px" : entry.measured ? "pixel size unknown here" : "reading…"));
      body.append(name, meta);
      verdict.problems.concat(verdict.notes).forEach(function (text, i) {
        var p = document.createElement("p");
        p.className = i < verdict.problems.length ? "pick-problem" : "pick-note";
        p.textContent = text;
        body.append(p);
      });
      var remove = document.createElement("button");
      remove.type = "button";
      remove.className = "small pick-remove";
      remove.textContent = "Remove";
      remove.setAttribute("aria-label", "Remove " + entry.file.name);
      remove.addEventListener("click", function () { removeAt(index); });
      body.append(remove);
      li.append(img, body);
      list.append(li);
    });
    if (focused >= 0 && list.querySelectorAll(".pick-remove")[focused]) {
      list.querySelectorAll(".pick-remove")[focused].focus();
    }
    var said = !picked.length ? "" : picked.length + (picked.length === 1 ? " file" : " files") + " picked" +
      (bad ? ", " + bad + " marked: remove " + (bad === 1 ? "it" : "them") + " before sending." : ".");
    // A live region: written only when it says something new (a redraw isn't news).
    if (summary && summary.textContent !== said) summary.textContent = said;
    upscalerCost();
  }
  // The input holds exactly the picked files: that is what the form sends.
  function sync() {
    var input = fileInput();
    if (!input) return;
    var all = new DataTransfer();
    picked.forEach(function (entry) { all.items.add(entry.file); });
    input.files = all.files;
  }
  // Many files load at once: one redraw per frame, not one per image.
  var drawing = false;
  function renderSoon() {
    if (drawing) return;
    drawing = true;
    requestAnimationFrame(function () { drawing = false; render(); });
  }
  // Decoded here (not through an <img src="blob:...">, which the CSP's img-src 'self'
  // refuses): the pixel size, and a 128 px square drawn on a canvas as the thumbnail.
  // Two at a time: 50 files of 50 megapixels decoded at once would hold gigabytes.
  var waiting = [], decoding = 0;
  function measure(entry) {
    waiting.push(entry);
    nextDecode();
  }
  function nextDecode() {
    if (decoding >= 2 || !waiting.length) return;
    var entry = waiting.shift();
    decoding += 1;
    // A file over the size limit is refused anyway: not worth its memory.
    var decodable = window.createImageBitmap && entry.file.size <= limits().maxBytes;
    var decoded = decodable ? createImageBitmap(entry.file) : Promise.reject();
    decoded.then(function (bitmap) {
      entry.width = bitmap.width;
      entry.height = bitmap.height;
      var side = Math.min(bitmap.width, bitmap.height);
      var canvas = document.createElement("canvas");
      canvas.width = canvas.height = 128;
      canvas.setAttribute("aria-hidden", "true");
      canvas.getContext("2d").drawImage(bitmap, (bitmap.width - side) / 2, (bitmap.height - side) / 2, side, side, 0, 0, 128, 128);
      bitmap.close();
      entry.thumb = canvas;
    }).catch(function () {}).then(function () { // HEIC: the server reads it
      entry.measured = true;
      decoding -= 1;
      renderSoon();
      nextDecode();
    });
    hash(entry);
  }
  function hash(entry) {
    if (window.crypto && crypto.subtle && entry.file.size <= limits().maxBytes) {
      entry.file.arrayBuffer().then(function (bytes) {
        return crypto.subtle.digest("SHA-256", bytes);
      }).then(function (digest) {
        hashes.set(entry.key, Array.from(new Uint8Array(digest)).join(","));
        renderSoon();
      }).catch(function () {});
    }
  }
  function add(files) {
    if (!fileInput() || !files.length) return;
    Array.from(files).forEach(function (f) {
      var entry = { file: f, key: keyOf(f), thumb: null, width: 0, height: 0, server: "" };
      picked.push(entry);
      measure(entry);
    });
    sync();
    render();
  }
  function removeAt(index) {
    picked.splice(index, 1);
    sync();
    render();
    var buttons = document.querySelectorAll("#picked .pick-remove");
    var next = buttons[Math.min(index, buttons.length - 1)];
    (next || fileInput()).focus(); // keyboard users stay in the list
  }
  function clear() {
    picked = [];
    hashes.clear();
  }
  window.upscalerPicked = {
    count: function () { return picked.filter(function (e) { return !firstOf(e); }).length; },
    names: function () { return picked.map(function (e) { return e.file.name; }); },
  };

  // Picking with the dialog adds to what is picked (the Remove buttons take away).
  document.addEventListener("change", function (e) {
    var input = fileInput();
    if (e.target !== input) {
      if (e.target instanceof Element && e.target.closest("#submit-form") && picked.length) render();
      return;
    }
    var chosen = Array.from(input.files).filter(function (f) {
      return !picked.some(function (entry) { return entry.file === f; });
    });
    add(chosen);
  });
  document.addEventListener("input", function (e) {
    if (e.target instanceof Element && e.target.matches("#submit-form textarea[name=urls]") && picked.length) render();
  });
  // The form's answer replaced it: an accepted batch empties the list; a refused one gets
  // every file back, with the server's reasons on the ones it refused.
  document.addEventListener("htmx:afterSwap", function (e) {
    if (e.detail.target.id !== "workspace" || !e.detail.requestConfig || e.detail.requestConfig.elt.id !== "submit-form") return;
    if (e.detail.xhr.status === 200) {
      clear();
    } else {
      var reasons = {};
      document.querySelectorAll("#file-errors li").forEach(function (li) { reasons[li.dataset.name] = li.textContent; });
      picked.forEach(function (entry) { entry.server = reasons[entry.file.name] || ""; });
      sync();
    }
    render();
  });
  // After a submit, focus goes back to the form (or its list of errors), not to <body>.
  document.addEventListener("htmx:afterSettle", function (e) {
    if (e.detail.target.id !== "workspace") return;
    var errors = document.querySelector("#submit-form .errors");
    var target = errors || form();
    if (target) target.focus();
  });

  function inForm(target) {
    return target instanceof Element && target.closest("#submit-form");
  }
  document.addEventListener("dragover", function (e) {
    if (!inForm(e.target)) return;
    e.preventDefault();
    document.getElementById("submit-form").classList.add("dragging");
  });
  document.addEventListener("dragleave", function (e) {
    var f = form();
    if (f && !f.contains(e.relatedTarget)) f.classList.remove("dragging");
  });
  document.addEventListener("drop", function (e) {
    if (!inForm(e.target)) return;
    e.preventDefault();
    document.getElementById("submit-form").classList.remove("dragging");
    add(e.dataTransfer.files);
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
      add(e.clipboardData.files);
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

// Presets: a preset's button fills the form with its settings; Enter in the name box
// saves the preset (rather than sending the form's images).
document.addEventListener("click", function (e) {
  var button = e.target instanceof Element && e.target.closest("button[data-preset]");
  var form = document.getElementById("submit-form");
  if (!button || !form) return;
  form.querySelector("select[name=resolution]").value = button.dataset.resolution;
  form.querySelector("select[name=output_format]").value = button.dataset.outputFormat;
  [["strip_gps", "stripGps"], ["notify", "notify"], ["skip_small", "skipSmall"]].forEach(function (pair) {
    var box = form.querySelector("input[name=" + pair[0] + "]");
    if (box) box.checked = button.dataset[pair[1]] === "true";
  });
  form.querySelector("select[name=resolution]").dispatchEvent(new Event("change", { bubbles: true }));
  var status = document.getElementById("preset-status");
  if (status) status.textContent = button.textContent + " applied.";
});
document.addEventListener("keydown", function (e) {
  if (e.key === "Enter" && e.target instanceof Element && e.target.id === "preset-name") {
    e.preventDefault();
    var save = document.getElementById("preset-save");
    if (save) save.click();
  }
});

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
// page that was not polling because nothing was in flight.
document.addEventListener("jobs-changed", function () {
  var poller = document.getElementById("poller");
  if (poller && window.htmx) {
    htmx.ajax("GET", poller.getAttribute("hx-get"), { source: poller, swap: "none" });
  }
});

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
