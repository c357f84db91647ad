/* vramatlas charts: render every <div class="vega-chart"> on the page.
 *
 * A chart's Vega-Lite spec sits in the <script type="application/json"> inside
 * its div. Data URLs in specs are relative to the site root, which is found
 * from this script's own address, so pages work at any depth and on any
 * static host. Vega, Vega-Lite and vega-embed are the copies vendored beside
 * this file; they are loaded only on pages that hold a chart.
 */
(function () {
  "use strict";
  var me = document.currentScript && document.currentScript.src;
  var here = me ? me.replace(/assets\/js\/charts\.js(\?.*)?$/, "") : "./";
  var libs = ["vega.min.js", "vega-lite.min.js", "vega-embed.min.js"];

  function load(i, done) {
    if (i >= libs.length) { done(); return; }
    var s = document.createElement("script");
    s.src = here + "assets/js/" + libs[i];
    s.onload = function () { load(i + 1, done); };
    s.onerror = function () { fail(document, "could not load " + libs[i]); };
    document.head.appendChild(s);
  }

  function fail(root, message) {
    var nodes = root.querySelectorAll ? root.querySelectorAll(".vega-chart") : [];
    for (var i = 0; i < nodes.length; i++) {
      nodes[i].setAttribute("data-state", "error");
      nodes[i].insertAdjacentHTML("afterbegin", "<p class=\"chart-error\"></p>");
      nodes[i].querySelector(".chart-error").textContent = "Chart not shown: " + message + ". The table below holds the same numbers.";
    }
  }

  // A JSON merge patch (RFC 7386): objects merge key by key, null deletes, anything else replaces.
  function merge(target, patch) {
    if (patch === null || typeof patch !== "object" || Array.isArray(patch)) return patch;
    var out = target && typeof target === "object" && !Array.isArray(target) ? target : {};
    Object.keys(patch).forEach(function (key) {
      if (patch[key] === null) delete out[key];
      else out[key] = merge(out[key], patch[key]);
    });
    return out;
  }

  function render(el) {
    if (el.getAttribute("data-state")) return;
    el.setAttribute("data-state", "loading");
    var spec;
    try {
      spec = JSON.parse(el.querySelector("script[type='application/json']").textContent);
    } catch (e) {
      el.setAttribute("data-state", "error");
      console.warn("vramatlas: bad chart spec", e);
      return;
    }
    var target = el.querySelector(".vega-target");
    // a chart too wide for a small box says how to draw it there (usermeta.narrow: below, patch)
    var narrow = spec.usermeta && spec.usermeta.narrow;
    if (narrow && target.clientWidth < narrow.below) spec = merge(spec, narrow.patch);
    var opts = {
      actions: false,
      renderer: "svg",
      loader: vega.loader({ baseURL: here }),
      tooltip: true
    };
    vegaEmbed(target, spec, opts).then(function (result) {
      el.vegaView = result.view;
      // the figure around the chart carries its name and its numbers in words (aria-label,
      // aria-describedby) and a table holds them all: the drawing itself is hidden from screen readers
      var svg = target.querySelector("svg");
      if (svg) svg.setAttribute("aria-hidden", "true");
      // a chart wider than its box (the heatmap on a phone) scrolls there, reachable by keyboard too
      if (target.scrollWidth > target.clientWidth + 1) {
        target.setAttribute("tabindex", "0");
        target.setAttribute("role", "region");
        target.setAttribute("aria-label", (el.getAttribute("aria-label") || "chart") + " (scrolls sideways)");
      }
      el.setAttribute("data-state", "rendered");
      // pages that drive a chart (explorer, calculator) fill it once it exists
      el.dispatchEvent(new CustomEvent("vramatlas:rendered", { detail: result.view }));
    }).catch(function (err) {
      el.setAttribute("data-state", "error");
      console.warn("vramatlas: chart failed", err);
    });
  }

  function renderAll() {
    var nodes = document.querySelectorAll(".vega-chart");
    if (!nodes.length) return;
    var go = function () { for (var i = 0; i < nodes.length; i++) render(nodes[i]); };
    if (window.vegaEmbed) go(); else load(0, go);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", renderAll);
  } else {
    renderAll();
  }
})();
