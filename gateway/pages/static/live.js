// Live pages: the server pushes what changed on this page after a hub applied a batch, rendered once for every
// open page of this kind: whole parts (an element with an id replaces the element with that id), and for a
// keyed list (the ops grid) only its changed items and their order (gateway/pages/views.py).
// The page is complete without this script; it only saves a reload.
(function () {
  var url = document.body.dataset.live;
  if (!url || !window.EventSource) return;
  function children(node) { return Array.prototype.slice.call(node.children); }
  function patchList(patch) {
    var box = document.getElementById(patch.dataset.list);
    if (!box) return;
    children(patch.content).forEach(function (item) {
      var here = document.getElementById(item.id);
      if (here) here.replaceWith(item); else box.appendChild(item);
    });
    var keep = {}, before = null;
    JSON.parse(patch.dataset.order).forEach(function (id) {
      var item = document.getElementById(id);
      if (!item) return;
      keep[id] = true;
      var there = before ? before.nextElementSibling : box.firstElementChild;
      if (there !== item) box.insertBefore(item, there);
      before = item;
    });
    children(box).forEach(function (item) { if (!keep[item.id]) item.remove(); });
  }
  function patch(event) {
    var parts = document.createElement("template");
    parts.innerHTML = event.data;
    children(parts.content).forEach(function (part) {
      if (part.tagName === "TEMPLATE" && part.dataset.list) return patchList(part);
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
