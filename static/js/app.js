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

// A hidden tab doesn't poll: the gallery catches up with one poll when it is shown again.
// (Here, not in an hx-trigger filter, which htmx would evaluate with Function(): the CSP
// forbids that.)
document.addEventListener("htmx:confirm", function (event) {
  if (event.target.id === "poller" && document.visibilityState !== "visible") {
    event.preventDefault();
  }
});

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
