// Live pages: when a hub this page shows applies a batch, fetch the page's content again and swap it in.
// The page is complete without this script; it only saves a reload.
(function () {
  var url = document.body.dataset.live;
  if (!url || !window.EventSource) return;
  var busy = false, again = false;
  function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    var target = location.pathname + "?fragment=1";
    fetch(target, {headers: {"Accept": "text/html"}}).then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) { if (html !== null) document.getElementById("content").innerHTML = html; })
      .finally(function () { busy = false; if (again) { again = false; refresh(); } });
  }
  var source = new EventSource(url);
  source.addEventListener("applied", refresh);
  source.addEventListener("open", function () { document.body.dataset.connected = "yes"; });
})();
