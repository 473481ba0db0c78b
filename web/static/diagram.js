// Draws each .diagram with bpmn-js (served from /static/vendor, installed by scripts/setup.sh) and applies the
// state the page holds in <script id="diagram-state">: marker classes per element, badges (overlays)
// and the path an instance took (a sequence flow is "taken" when its source completed and its target was
// reached).  Live refresh (live.js) replaces the state and fires "baton:refreshed"; the markers follow.
(function () {
  "use strict";

  function stateOf() {
    var node = document.getElementById("diagram-state");
    try { return node ? JSON.parse(node.textContent) : {}; } catch (e) { return {}; }
  }

  function apply(viewer, container) {
    var state = stateOf();
    var canvas = viewer.get("canvas"), overlays = viewer.get("overlays"), registry = viewer.get("elementRegistry");
    (container._baton_markers || []).forEach(function (m) { canvas.removeMarker(m[0], m[1]); });
    overlays.remove({ type: "baton" });
    var applied = [];
    function mark(id, cls) {
      if (registry.get(id)) { canvas.addMarker(id, cls); applied.push([id, cls]); }
    }
    Object.keys(state.markers || {}).forEach(function (id) {
      state.markers[id].forEach(function (cls) { mark(id, cls); });
    });
    var path = state.path;
    if (path) {
      var completed = new Set(path.completed || []), reached = new Set(path.reached || []);
      completed.forEach(function (id) { mark(id, "path-completed"); });
      (path.active || []).forEach(function (id) { mark(id, "token-active"); });
      (path.failed || []).forEach(function (id) { mark(id, "element-failed"); });
      registry.filter(function (el) { return el.type === "bpmn:SequenceFlow"; }).forEach(function (flow) {
        var bo = flow.businessObject;
        if (bo.sourceRef && bo.targetRef && completed.has(bo.sourceRef.id) && reached.has(bo.targetRef.id)) {
          mark(flow.id, "flow-taken");
        }
      });
    }
    var perElement = {};
    (state.badges || []).forEach(function (b) {
      if (!registry.get(b.id)) { return; }
      var n = perElement[b.id] = (perElement[b.id] || 0) + 1;
      var html = document.createElement("span");
      html.className = "diagram-badge " + b.cls;
      html.textContent = b.text;
      html.title = b.title || "";
      overlays.add(b.id, "baton", { position: { bottom: 12, left: -8 + (n - 1) * 30 }, html: html });
    });
    container._baton_markers = applied;
    container.dataset.rendered = "true";
  }

  function draw(container) {
    var msg = container.querySelector(".diagram-msg");
    if (typeof window.BpmnJS !== "function") {
      if (msg) { msg.innerHTML = "<strong>The diagram viewer (bpmn-js) is not installed.</strong> Run <code>scripts/setup.sh</code>, then reload."; }
      return;
    }
    var viewer = new window.BpmnJS({ container: container });
    fetch(container.dataset.xmlUrl, { credentials: "same-origin" })
      .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } return r.text(); })
      .then(function (xml) { return viewer.importXML(xml); })
      .then(function () {
        if (msg) { msg.remove(); }
        var canvas = viewer.get("canvas");
        canvas.zoom("fit-viewport", "auto");
        var box = canvas.viewbox(), pad = Math.max(box.width, box.height) * 0.04;  // room for labels and badges
        canvas.viewbox({ x: box.x - pad, y: box.y - pad, width: box.width + 2 * pad, height: box.height + 2 * pad });
        apply(viewer, container);
        document.addEventListener("baton:refreshed", function () { apply(viewer, container); });
      })
      .catch(function (err) {
        if (msg) { msg.textContent = "The diagram could not be drawn: " + err.message; }
        container.dataset.rendered = "error";
      });
  }

  document.querySelectorAll(".diagram[data-xml-url]").forEach(draw);
})();
