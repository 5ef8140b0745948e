// Shelter map: reads the scoped GeoJSON API and draws one circle per shelter.
// Data from users (names, managers) only ever goes through textContent (CSP: no inline script).
(function () {
  "use strict";
  var el = document.getElementById("shelter-map");
  if (!el || typeof L === "undefined") { return; }
  var colours = { open: "#1b6e3a", standby: "#12355b", full: "#b3261e", closed: "#5f6368" };
  var statusLabels = JSON.parse(el.dataset.statusLabels || "{}");
  var map = L.map(el).setView([39.48, 115.97], 10);
  if (el.dataset.tiles) {
    L.tileLayer(el.dataset.tiles, { maxZoom: 18, attribution: "" }).addTo(map);
  }

  function line(label, value) {
    var row = document.createElement("div");
    var b = document.createElement("strong");
    b.textContent = label + " ";
    row.appendChild(b);
    row.appendChild(document.createTextNode(value == null ? "" : String(value)));
    return row;
  }

  function popup(p) {
    var box = document.createElement("div");
    var title = document.createElement("a");
    title.href = p.url;  // a relative path built by the server
    title.textContent = p.code + " " + p.name;
    box.appendChild(title);
    box.appendChild(line("", statusLabels[p.status] || p.status));
    box.appendChild(line(el.dataset.labelCapacity, p.capacity));
    box.appendChild(line(el.dataset.labelOccupancy, p.occupancy));
    box.appendChild(line(el.dataset.labelFree, p.free));
    if (p.stale) { box.appendChild(line(el.dataset.labelStale, "")); }
    if (p.manager_name || p.manager_phone) {
      box.appendChild(line("", (p.manager_name || "") + " " + (p.manager_phone || "")));
    }
    return box;
  }

  function getJSON(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { if (!r.ok) { throw new Error(url + " " + r.status); } return r.json(); });
  }

  getJSON(el.dataset.outlines).then(function (data) {
    if (data.features && data.features.length) {
      var outline = L.geoJSON(data, { style: { color: "#12355b", weight: 2, fill: false } }).addTo(map);
      map.fitBounds(outline.getBounds());
    }
  }).catch(function () {});

  getJSON(el.dataset.shelters).then(function (data) {
    // SVG for a county's few hundred shelters; canvas when a province holds thousands.
    var renderer = data.features.length > 2000 ? L.canvas() : undefined;
    var layer = L.geoJSON(data, {
      pointToLayer: function (feature, latlng) {
        var p = feature.properties;
        return L.circleMarker(latlng, { radius: 8, weight: p.stale ? 3 : 1, color: p.stale ? "#b26a00" : "#000",
          fillColor: colours[p.status] || "#888", fillOpacity: 0.85, renderer: renderer });
      },
      onEachFeature: function (feature, marker) { marker.bindPopup(popup(feature.properties)); }
    }).addTo(map);
    var count = document.getElementById("shelter-map-count");
    if (count) { count.textContent = String(data.features.length); }
    if (data.features.length) { map.fitBounds(layer.getBounds(), { maxZoom: 14 }); }
  }).catch(function (err) {
    var count = document.getElementById("shelter-map-count");
    if (count) { count.textContent = String(err); }
  });
})();
