/* vramatlas tables: click a column header to sort; type in the box above a
 * long table to filter its rows. Plain JavaScript, no dependency.
 * Tables inside an element with class "no-sort" are left alone.
 */
(function () {
  "use strict";

  // A cell's sort key: its data-sort number (set by the page builder: "374 M" sorts before
  // "6.7 B", a GPU by its memory), else read from its text.
  function cellKey(cell) {
    if (!cell) return key("");
    var marked = cell.hasAttribute("data-sort") ? cell : cell.querySelector("[data-sort]");
    if (marked) {
      var n = parseFloat(marked.getAttribute("data-sort"));
      if (!isNaN(n)) return { n: n, s: cell.textContent.toLowerCase() };
    }
    return key(cell.textContent);
  }

  function key(text) {
    var t = text.replace(/\u00a0/g, " ").trim();
    if (t === "" || t === "\u2014" || t === "-") return { n: -Infinity, s: "" };
    var m = t.match(/^([-+\u2212]?[0-9][0-9,]*(?:\.[0-9]+)?)\s*(k|K|M)?(?![A-Za-z0-9-])/);
    if (m) {
      var n = parseFloat(m[1].replace(/,/g, "").replace("\u2212", "-"));
      if (m[2] === "k" || m[2] === "K") n *= 1024;
      if (m[2] === "M") n *= 1048576;
      return { n: n, s: t.toLowerCase() };
    }
    return { n: null, s: t.toLowerCase() };
  }

  function compare(a, b) {
    if (a.n !== null && b.n !== null) return a.n - b.n;
    if (a.n !== null) return -1;
    if (b.n !== null) return 1;
    return a.s < b.s ? -1 : a.s > b.s ? 1 : 0;
  }

  function sortable(table) {
    var head = table.tHead;
    var body = table.tBodies[0];
    if (!head || !body || body.rows.length < 2) return;
    var ths = head.rows[0].cells;
    for (var i = 0; i < ths.length; i++) {
      (function (col, th) {
        th.classList.add("va-sortable");
        th.setAttribute("tabindex", "0");
        th.setAttribute("title", "Sort by this column");
        th.setAttribute("aria-sort", "none");
        var go = function () {
          var dir = th.getAttribute("aria-sort") === "ascending" ? -1 : 1;
          for (var j = 0; j < ths.length; j++) ths[j].setAttribute("aria-sort", "none");
          th.setAttribute("aria-sort", dir === 1 ? "ascending" : "descending");
          var rows = Array.prototype.slice.call(body.rows);
          var keyed = rows.map(function (r, idx) {
            return { r: r, k: cellKey(r.cells[col]), i: idx };
          });
          keyed.sort(function (x, y) { return dir * compare(x.k, y.k) || x.i - y.i; });
          keyed.forEach(function (x) { body.appendChild(x.r); });
        };
        th.addEventListener("click", go);
        th.addEventListener("keydown", function (e) {
          if (e.key === "Enter" || e.key === " ") { e.preventDefault(); go(); }
        });
      })(i, ths[i]);
    }
  }

  function filterable(table) {
    var body = table.tBodies[0];
    if (!body || body.rows.length < 8) return;
    var box = document.createElement("input");
    box.type = "search";
    box.className = "va-filter";
    box.placeholder = "Filter rows\u2026";
    box.setAttribute("aria-label", "Filter the rows of the table below");
    var count = document.createElement("span");
    count.className = "va-filter-count";
    var wrap = document.createElement("div");
    wrap.className = "va-filter-wrap";
    wrap.appendChild(box);
    wrap.appendChild(count);
    var anchor = table.closest(".md-typeset__scrollwrap") || table;
    anchor.parentNode.insertBefore(wrap, anchor);
    var update = function () {
      var words = box.value.toLowerCase().split(/\s+/).filter(Boolean);
      var shown = 0;
      for (var i = 0; i < body.rows.length; i++) {
        var text = body.rows[i].textContent.toLowerCase();
        var ok = words.every(function (w) { return text.indexOf(w) >= 0; });
        body.rows[i].style.display = ok ? "" : "none";
        if (ok) shown++;
      }
      count.textContent = words.length ? shown + " of " + body.rows.length + " rows" : body.rows.length + " rows";
    };
    box.addEventListener("input", update);
    update();
  }

  // A code block wider than its box scrolls: it must be reachable by keyboard too.
  function focusableScrollers() {
    var blocks = document.querySelectorAll(".md-typeset pre > code");
    for (var i = 0; i < blocks.length; i++) {
      if (blocks[i].scrollWidth > blocks[i].clientWidth && !blocks[i].hasAttribute("tabindex")) {
        blocks[i].setAttribute("tabindex", "0");
      }
    }
  }

  function enhance() {
    focusableScrollers();
    var tables = document.querySelectorAll(".md-typeset table");
    for (var i = 0; i < tables.length; i++) {
      if (tables[i].closest(".no-sort") || tables[i].getAttribute("data-va")) continue;
      tables[i].setAttribute("data-va", "1");
      sortable(tables[i]);
      filterable(tables[i]);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", enhance);
  } else {
    enhance();
  }
})();
