// The gallery's submit form (loaded by templates/jobs/gallery.html only): its running cost,
// the picked files' thumbnails and checks, and the presets. The rest of the pages' script
// is static/js/app.js.

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
