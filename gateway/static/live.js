// Live pages: the server pushes the parts of this page that changed (elements with an id) after a hub applied
// a batch, rendered once for every open page of this kind; each replaces the element with its id.
// The page is complete without this script; it only saves a reload.
(function () {
  var url = document.body.dataset.live;
  if (!url || !window.EventSource) return;
  function patch(event) {
    var parts = document.createElement("template");
    parts.innerHTML = event.data;
    Array.prototype.slice.call(parts.content.children).forEach(function (part) {
      var here = part.id && document.getElementById(part.id);
      if (!here) return;
      if (part.id === "content") here.innerHTML = part.innerHTML;  // a page without parts: its whole content
      else here.replaceWith(part);
    });
  }
  var source = new EventSource(url);
  source.addEventListener("patch", patch);
  source.addEventListener("open", function () { document.body.dataset.connected = "yes"; });
})();
