/* Board map: incident markers coloured by severity (clustered), county outline, shelters.
   Data from /board/map.json; popups are DOM nodes filled with textContent (SMS text is data). */
(function () {
  "use strict";
  var root = document.getElementById("board");
  var el = document.getElementById("map");
  if (!root || !el || typeof L === "undefined") { return; }
  var COLORS = { 0: "#8a8f98", 1: "#d9a400", 2: "#e06c00", 3: "#c62828", 4: "#6a0dad" };

  var map = L.map(el, { preferCanvas: true, zoomControl: true, minZoom: 5, maxZoom: 18 }).setView([39.0, 116.0], 9);
  if (root.dataset.tileUrl) {
    L.tileLayer(root.dataset.tileUrl, { maxZoom: 18, attribution: "" }).addTo(map);
  }
  var renderer = L.canvas({ padding: 0.5 });
  var outline = L.layerGroup().addTo(map);
  var clusters = L.markerClusterGroup({ chunkedLoading: true, maxClusterRadius: 40, disableClusteringAtZoom: 15 });
  var shelters = L.layerGroup();
  map.addLayer(clusters);
  map.addLayer(shelters);
  L.control.layers(null, { "⚠": clusters, "⌂": shelters }, { collapsed: true }).addTo(map);
  var fitted = false;

  function line(parent, text, cls) {
    var div = document.createElement("div");
    if (cls) { div.className = cls; }
    div.textContent = text;
    parent.appendChild(div);
  }

  function incidentUrl(id) {
    return root.dataset.incidentUrl.replace("/0.json", "/" + encodeURIComponent(id) + ".json");
  }

  /* The popup is filled when opened: village, figures, flags and the officer's own words,
     all as textContent. */
  function fillIncidentPopup(box, id, done) {
    fetch(incidentUrl(id), { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (d) {
        box.replaceChildren();
        line(box, d.village + (d.township ? "（" + d.township + "）" : ""), "popup-title");
        line(box, d.hazard + (d.report ? " · " + d.report + " " + d.kind : ""));
        line(box, d.figures.join(" · ") || "—");
        if (d.flags.length) { line(box, "⚑ " + d.flags.join(" "), "flag"); }
        if (d.narrative) { line(box, d.narrative, "popup-narrative"); }
        var more = document.createElement("a");  /* the incident's whole history */
        more.href = incidentUrl(id).replace(".json", "");
        more.textContent = "›";
        box.appendChild(more);
        done();
      })
      .catch(function () { box.textContent = "—"; });
  }

  function shelterPopup(p) {
    var box = document.createElement("div");
    box.className = "popup";
    line(box, (p.code ? p.code + " " : "") + (p.name || ""), "popup-title");
    if (p.capacity !== undefined && p.capacity !== null) {
      line(box, (p.occupancy || 0) + " / " + p.capacity + (p.status ? " · " + p.status : ""));
    }
    if (p.free !== undefined && p.free !== null) { line(box, "+" + p.free); }
    if (p.stale) { line(box, "⚠ " + (p.occupancy_updated_at || ""), "flag"); }
    if (typeof p.url === "string" && /^\/shelters\/\d+$/.test(p.url)) {
      var a = document.createElement("a");
      a.href = p.url;
      a.textContent = "›";
      box.appendChild(a);
    }
    return box;
  }

  function load() {
    fetch(root.dataset.mapUrl, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (data) {
        outline.clearLayers();
        (data.outline || []).forEach(function (g) {
          L.geoJSON(g, { style: { color: "#12355b", weight: 2, fill: false }, interactive: false }).addTo(outline);
        });
        /* marker: [incident id, lat, lon, severity, open] */
        var markers = data.markers.map(function (m) {
          var marker = L.circleMarker([m[1], m[2]], {
            renderer: renderer, radius: 6 + m[3], color: "#222", weight: 1,
            fillColor: COLORS[m[3]] || COLORS[0], fillOpacity: m[4] ? 0.9 : 0.4
          });
          var box = null;  /* created on first open, refreshed on every open */
          marker.bindPopup(function () {
            if (box === null) {
              box = document.createElement("div");
              box.className = "popup";
              box.textContent = "…";
            }
            return box;
          });
          marker.on("popupopen", function () {
            fillIncidentPopup(box, m[0], function () { marker.getPopup().update(); });
          });
          return marker;
        });
        clusters.clearLayers();
        clusters.addLayers(markers);
        shelters.clearLayers();
        ((data.shelters && data.shelters.features) || []).forEach(function (f) {
          if (!f.geometry || f.geometry.type !== "Point") { return; }
          var p = f.properties || {};
          var fill = p.capacity ? Math.min(1, (p.occupancy || 0) / p.capacity) : 0;
          var c = L.circleMarker([f.geometry.coordinates[1], f.geometry.coordinates[0]], {
            renderer: renderer, radius: 7, color: "#1b6e3a", weight: 2,
            fillColor: fill >= 1 ? "#c62828" : fill >= 0.8 ? "#e06c00" : "#1b6e3a", fillOpacity: 0.25 + 0.6 * fill
          });
          c.bindPopup(function () { return shelterPopup(p); });
          shelters.addLayer(c);
        });
        if (!fitted) {
          var bounds = L.latLngBounds([]);
          outline.eachLayer(function (l) { bounds.extend(l.getBounds()); });
          if (!bounds.isValid() && markers.length) { bounds = clusters.getBounds(); }
          if (bounds.isValid()) { map.fitBounds(bounds, { padding: [10, 10] }); fitted = true; }
        }
        el.dataset.markers = String(markers.length);
      })
      .catch(function () { el.dataset.error = "1"; });
  }

  el.boardMap = { map: map, clusters: clusters, shelters: shelters };  /* for tests and wall displays */
  load();
  document.addEventListener("board:changed", load);
})();
