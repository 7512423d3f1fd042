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
