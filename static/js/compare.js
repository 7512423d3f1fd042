// The before/after compare of the job page and the share page ([data-compare]).
//
// Drag anywhere on the picture (mouse, pen or touch) to move the divider. Zoomed in (the
// Zoom select, a pinch, a double-tap or a double-click), dragging the picture pans it and
// the handle still moves the divider. The divider is placed in the frame, not on the
// picture, so it never leaves the view. The range input is the keyboard control of the
// divider (arrow keys, Page Up/Down, Home/End), as before. Zoomed in, the stage joins the
// Tab order (tabindex=0, until it is blurred at fit) and pans by keyboard: arrow keys move
// the view a tenth of the frame, Shift+arrows half of it, Home fits the picture again; the
// hint under the slider (#compare-pan-hint, the stage's aria-describedby) says so while
// zoomed. Both sides load a preview (2048 px; the before side only for a source larger or
// heavier than that, else the source itself): once a side is shown larger than its
// preview, its full file (data-full / data-before-full) is swapped in.
(function () {
  "use strict";
  var MAX_ZOOM = 4;
  var DOUBLE_TAP_MS = 350;

  function setup(root) {
    var stage = root.querySelector(".compare-stage");
    var after = root.querySelector(".compare-after");
    var before = root.querySelector(".compare-before");
    var handle = root.querySelector(".compare-handle");
    var range = root.querySelector("input[type=range]");
    var select = root.querySelector("select");
    var hint = root.querySelector(".compare-pan-hint");
    var view = { zoom: 1, x: 0, y: 0 }; // the pictures' translate (CSS px) and scale
    var pointers = new Map(); // pointerId -> position in the stage
    var gesture = null;
    var lastTap = null;
    var lastType = "";
    // Each side's preview, and the full file that replaces it when zoomed past it.
    var sides = [
      {
        img: after,
        url: root.dataset.full,
        width: Number(root.dataset.fullWidth) || 0,
        flag: "fullLoaded",
      },
      {
        img: before,
        url: root.dataset.beforeFull,
        width: Number(root.dataset.beforeFullWidth) || 0,
        flag: "beforeFullLoaded",
      },
    ];

    if (root.dataset.width && root.dataset.height) {
      stage.style.setProperty("--ratio", String(root.dataset.width / root.dataset.height));
    }

    function box() {
      return stage.getBoundingClientRect();
    }
    function local(e) {
      var b = box();
      return { x: e.clientX - b.left, y: e.clientY - b.top };
    }
    function showDivider(percent) {
      percent = Math.max(0, Math.min(100, percent));
      range.value = String(Math.round(percent));
      stage.style.setProperty("--pos", percent + "%");
    }
    function dividerAt(x) {
      showDivider((x / box().width) * 100);
    }

    // A side's full file, once its preview would be shown magnified on this screen.
    function maybeFull(side, b) {
      var natural = side.img.naturalWidth;
      if (side.swapped || !side.url || !natural || (side.width && natural >= side.width)) return;
      if (b.width * view.zoom * (window.devicePixelRatio || 1) <= natural * 1.05) return;
      side.swapped = true;
      var full = new Image();
      full.onload = function () {
        side.img.src = full.src;
        root.dataset[side.flag] = "true";
      };
      full.src = side.url;
    }

    function syncSelect() {
      var custom = select.querySelector("option[data-custom]");
      var match = Array.from(select.options).find(function (o) {
        return !o.hasAttribute("data-custom") && Math.abs(Number(o.value) - view.zoom) < 0.01;
      });
      if (match) {
        select.value = match.value;
        if (custom) custom.remove();
        return;
      }
      if (!custom) {
        custom = document.createElement("option");
        custom.setAttribute("data-custom", "");
        select.appendChild(custom);
      }
      custom.value = String(view.zoom);
      custom.textContent = view.zoom.toFixed(1) + "×";
      select.value = custom.value;
    }

    function apply() {
      var b = box();
      // The picture always covers the frame: no empty margin when panned to an edge.
      view.x = Math.min(0, Math.max(b.width - b.width * view.zoom, view.x));
      view.y = Math.min(0, Math.max(b.height - b.height * view.zoom, view.y));
      stage.style.setProperty("--tx", view.x + "px");
      stage.style.setProperty("--ty", view.y + "px");
      stage.style.setProperty("--zoom", String(view.zoom));
      stage.classList.toggle("zoomed", view.zoom > 1);
      // Focusable while zoomed; a stage focused when it goes back to fit keeps its focus
      // (and its tabindex) until blurred, so Home doesn't drop the focus to the page.
      if (view.zoom > 1) stage.tabIndex = 0;
      else if (document.activeElement !== stage) stage.removeAttribute("tabindex");
      if (hint) hint.hidden = view.zoom <= 1;
      syncSelect();
      sides.forEach(function (side) {
        maybeFull(side, b);
      });
    }

    // Zoom to z keeping the point (x, y) of the stage where it is (default: the centre).
    function zoomTo(z, x, y) {
      var b = box();
      z = Math.max(1, Math.min(MAX_ZOOM, z));
      if (x === undefined) {
        x = b.width / 2;
        y = b.height / 2;
      }
      view.x = x - (x - view.x) * (z / view.zoom);
      view.y = y - (y - view.y) * (z / view.zoom);
      view.zoom = z;
      apply();
    }
    function toggleZoom(p) {
      if (view.zoom > 1) zoomTo(1);
      else zoomTo(2, p.x, p.y);
    }

    function two() {
      var it = pointers.values();
      return [it.next().value, it.next().value];
    }
    function startPinch() {
      var p = two();
      gesture = {
        kind: "pinch",
        dist: Math.hypot(p[0].x - p[1].x, p[0].y - p[1].y) || 1,
        mid: { x: (p[0].x + p[1].x) / 2, y: (p[0].y + p[1].y) / 2 },
        zoom: view.zoom,
        x: view.x,
        y: view.y,
      };
    }
    function pinch() {
      var p = two();
      var g = gesture;
      var z = g.zoom * (Math.hypot(p[0].x - p[1].x, p[0].y - p[1].y) / g.dist);
      z = Math.max(1, Math.min(MAX_ZOOM, z));
      var mid = { x: (p[0].x + p[1].x) / 2, y: (p[0].y + p[1].y) / 2 };
      // The point of the picture that was under the fingers stays under them.
      view.x = mid.x - (g.mid.x - g.x) * (z / g.zoom);
      view.y = mid.y - (g.mid.y - g.y) * (z / g.zoom);
      view.zoom = z;
      apply();
    }
    function startPan(p) {
      gesture = { kind: "pan", start: p, x: view.x, y: view.y, at: p, moved: true };
      stage.classList.add("panning");
    }

    stage.addEventListener("dragstart", function (e) {
      e.preventDefault(); // no native image drag: it would cancel the pointer
    });
    stage.addEventListener("pointerdown", function (e) {
      lastType = e.pointerType;
      if (e.pointerType === "mouse" && e.button !== 0) return;
      e.preventDefault();
      stage.setPointerCapture(e.pointerId);
      var p = local(e);
      pointers.set(e.pointerId, p);
      if (pointers.size === 2) {
        startPinch();
        return;
      }
      if (pointers.size > 2) return;
      var onHandle = handle.contains(e.target);
      if (onHandle || view.zoom === 1) {
        gesture = { kind: "divider", at: p, moved: false };
        // A finger may be starting a scroll (the browser then cancels the pointer): it
        // moves the divider once it moves sideways, or when it lifts.
        if (!onHandle && e.pointerType !== "touch") dividerAt(p.x);
      } else {
        startPan(p);
        gesture.moved = false;
      }
    });
    stage.addEventListener("pointermove", function (e) {
      if (!pointers.has(e.pointerId) || !gesture) return;
      var p = local(e);
      pointers.set(e.pointerId, p);
      if (gesture.kind === "pinch") {
        if (pointers.size >= 2) pinch();
        return;
      }
      if (Math.abs(p.x - gesture.at.x) + Math.abs(p.y - gesture.at.y) > 6) gesture.moved = true;
      if (gesture.kind === "divider") {
        if (gesture.moved || e.pointerType !== "touch") dividerAt(p.x);
      } else {
        view.x = gesture.x + p.x - gesture.start.x;
        view.y = gesture.y + p.y - gesture.start.y;
        apply();
      }
    });
    function end(e) {
      if (!pointers.has(e.pointerId)) return;
      var p = pointers.get(e.pointerId);
      pointers.delete(e.pointerId);
      var was = gesture;
      stage.classList.remove("panning");
      if (was && was.kind === "pinch") {
        // One finger left down goes on panning (zoomed), or does nothing.
        gesture = null;
        if (pointers.size === 1 && view.zoom > 1) startPan(pointers.values().next().value);
        lastTap = null;
        return;
      }
      if (pointers.size === 0) gesture = null;
      if (e.type !== "pointerup" || !was || was.moved) return;
      if (e.pointerType === "touch") {
        var now = Date.now();
        var near = lastTap && Math.hypot(lastTap.p.x - p.x, lastTap.p.y - p.y) < 30;
        if (near && now - lastTap.t < DOUBLE_TAP_MS) {
          lastTap = null;
          toggleZoom(p);
          return;
        }
        lastTap = { t: now, p: p };
        if (was.kind === "divider") dividerAt(p.x);
      }
    }
    stage.addEventListener("pointerup", end);
    stage.addEventListener("pointercancel", end);
    stage.addEventListener("dblclick", function (e) {
      if (lastType !== "touch") toggleZoom(local(e)); // touch has its own double-tap
    });

    // Keyboard panning, zoomed in: the arrow keys move the view (not the picture) by a
    // tenth of the frame, as scrolling would; Shift by half of it.
    var KEYS = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
    stage.addEventListener("keydown", function (e) {
      if (view.zoom <= 1 || e.altKey || e.ctrlKey || e.metaKey) return;
      if (e.key === "Home") {
        e.preventDefault();
        zoomTo(1);
        return;
      }
      var dir = KEYS[e.key];
      if (!dir) return;
      e.preventDefault(); // the page doesn't scroll too
      var b = box();
      var step = e.shiftKey ? 0.5 : 0.1;
      view.x -= dir[0] * step * b.width;
      view.y -= dir[1] * step * b.height;
      apply();
    });
    stage.addEventListener("blur", function () {
      if (view.zoom <= 1) stage.removeAttribute("tabindex");
    });

    range.addEventListener("input", function () {
      showDivider(Number(range.value));
    });
    select.addEventListener("change", function () {
      zoomTo(Number(select.value));
    });
    sides.forEach(function (side) {
      side.img.addEventListener("load", function () {
        // The full file itself (an older job without a preview), or no size to compare with.
        if (!side.width || side.img.naturalWidth >= side.width) side.swapped = true;
        maybeFull(side, box());
      });
    });
    window.addEventListener("resize", apply);
    showDivider(Number(range.value));
    apply();
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-compare]").forEach(setup);
  });
})();
