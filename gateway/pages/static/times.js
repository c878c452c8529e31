// Keeps "3 min ago" true while a page stays open: every <time datetime> is worded again each 30 s, by the
// rules of gateway/pages/when.py. Without this script a page reads the same, as of when it was rendered.
(function () {
  function ago(at, now) {
    var seconds = (now - at) / 1000, gone = Math.abs(seconds), n, unit;
    if (gone < 45) return "just now";
    if (gone < 90 * 60) { n = Math.round(gone / 60); unit = "min"; }
    else if (gone < 36 * 3600) { n = Math.round(gone / 3600); unit = "h"; }
    else if (gone < 60 * 86400) { n = Math.round(gone / 86400); unit = n === 1 ? "day" : "days"; }
    else return null;  // a date: it stays as rendered
    return seconds > 0 ? n + " " + unit + " ago" : "in " + n + " " + unit;
  }
  function reword() {
    var now = Date.now();
    Array.prototype.forEach.call(document.querySelectorAll("time[datetime]"), function (t) {
      var at = Date.parse(t.getAttribute("datetime"));
      var text = isNaN(at) ? null : ago(at, now);
      if (text && t.textContent !== text) t.textContent = text;
    });
  }
  setInterval(reword, 30000);
})();
