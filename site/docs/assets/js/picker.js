/* vramatlas GPU picker (home page): "my GPU is ..." -> what runs on it.
 *
 * Reads data/picker.json (written by the build from the same matrix as every page), fills the table
 * for the chosen GPU, keeps the choice in the URL (?gpu=ID) and links each row into the calculator.
 * Sets data-state="ready" on #va-picker when the table is filled (the browser tests wait on it).
 */
(function () {
  "use strict";
  var me = document.currentScript && document.currentScript.src;
  var root = me ? me.replace(/assets\/js\/picker\.js(\?.*)?$/, "") : "./";

  function k(n) {
    if (!n) return "\u2014";
    return n >= 1024 && n % 512 === 0 ? (n / 1024) + "k" : n.toLocaleString("en");
  }
  function params(n) {
    if (n >= 1e9) return (n < 1e11 ? (n / 1e9).toFixed(1) : Math.round(n / 1e9)) + " B";
    return Math.round(n / 1e6) + " M";
  }
  function cell(tr, text, sortKey, href) {
    var td = document.createElement("td");
    if (href) {
      var a = document.createElement("a");
      a.href = href;
      a.textContent = text;
      td.appendChild(a);
    } else {
      td.textContent = text;
    }
    if (sortKey !== undefined) td.setAttribute("data-sort", String(sortKey));
    tr.appendChild(td);
    return td;
  }

  function start(box) {
    var select = box.querySelector("#va-gpu");
    var search = box.querySelector("#va-gpu-search");
    var summary = box.querySelector("#va-picker-summary");
    var body = box.querySelector("tbody");
    var all = Array.prototype.map.call(select.options, function (o) { return { value: o.value, text: o.text, group: o.parentNode }; });
    fetch(root + box.getAttribute("data-src")).then(function (r) {
      if (!r.ok) throw new Error("HTTP " + r.status);
      return r.json();
    }).then(function (data) {
      if (data.speed) {  // a column for the speed model's decode tokens per second
        var th = document.createElement("th");
        th.scope = "col";
        th.textContent = "decode (tokens/s)";
        var heads = box.querySelector("thead tr");
        heads.insertBefore(th, heads.lastElementChild);
      }
      return data;
    }).then(function (data) {
      function show(gid) {
        var g = data.gpus[gid];
        if (!g) return;
        var rows = (data.rows[gid] || []).slice();
        // what runs first, largest first; then what needs more cards, fewest first
        rows.sort(function (a, b) {
          var fa = a[1] >= 0, fb = b[1] >= 0;
          if (fa !== fb) return fa ? -1 : 1;
          if (fa) return data.models[b[0]].params - data.models[a[0]].params;
          return (a[4] || 1e9) - (b[4] || 1e9) || data.models[a[0]].params - data.models[b[0]].params;
        });
        body.textContent = "";
        var fits = 0;
        rows.forEach(function (r) {
          var m = data.models[r[0]];
          var tr = document.createElement("tr");
          cell(tr, m.name, undefined, root + m.url);
          cell(tr, params(m.params), m.params);
          var q = "?model=" + encodeURIComponent(r[0]) + "&gpu=" + encodeURIComponent(gid);
          if (r[1] >= 0) {
            fits++;
            var meth = data.methods[r[1]];
            cell(tr, meth.label, -r[1]).title = meth.name;
            cell(tr, k(r[2]) + (r[2] && r[2] >= m.max ? " (its maximum)" : ""), r[2]);
            cell(tr, r[3].toFixed(1), r[3]);
            if (data.speed) cell(tr, r[6] === null || r[6] === undefined ? "\u2014" : String(r[6]), r[6] || 0);
            var seq = Math.min(r[2] || m.ref, m.ref);
            cell(tr, "calculate", undefined, root + "calculator/" + q + "&method=" + encodeURIComponent(meth.id) +
                 "&seq-len=" + seq + (m.max && seq + data.new_tokens > m.max ? "&allow-beyond-max=1" : ""));
          } else {
            tr.className = "va-nofit";
            var need = r[4] ? "needs " + r[4] + " cards (" + data.methods[r[5]].label + ")"
                            : "does not fit on " + data.max_count + " cards";
            cell(tr, "\u2717 " + need, -100 - (r[4] || 1e6));
            cell(tr, "\u2014", 0);
            cell(tr, "\u2014", 1e9);
            if (data.speed) cell(tr, "\u2014", 0);
            var meth2 = r[5] >= 0 ? data.methods[r[5]].id : data.methods[0].id;
            cell(tr, "calculate", undefined, root + "calculator/" + q + "&method=" + encodeURIComponent(meth2) +
                 "&seq-len=" + m.ref + (r[4] ? "&gpus=" + r[4] : "") +
                 (m.max && m.ref + data.new_tokens > m.max ? "&allow-beyond-max=1" : ""));
          }
          body.appendChild(tr);
        });
        summary.textContent = "";
        var strong = document.createElement("strong");
        strong.textContent = fits + " of " + rows.length + " models";
        summary.appendChild(strong);
        summary.appendChild(document.createTextNode(" run on one " + g.name + " (" + g.cap.toFixed(1) +
          " GiB usable) at up to 8k context, batch 1. "));
        var a = document.createElement("a");
        a.href = root + g.url;
        a.textContent = "Everything about the " + g.name;
        summary.appendChild(a);
        summary.appendChild(document.createTextNode("."));
      }

      function choose(gid, push) {
        if (!data.gpus[gid]) return;
        select.value = gid;
        show(gid);
        if (push) {
          var u = new URL(window.location.href);
          u.searchParams.set("gpu", gid);
          history.replaceState(null, "", u.toString());
        }
      }

      select.addEventListener("change", function () { choose(select.value, true); });
      search.addEventListener("input", function () {
        var words = search.value.toLowerCase().split(/\s+/).filter(Boolean);
        var first = null;
        all.forEach(function (o) {
          var el = select.querySelector("option[value='" + CSS.escape(o.value) + "']");
          var ok = words.every(function (w) { return o.text.toLowerCase().indexOf(w) >= 0 || o.value.indexOf(w) >= 0; });
          el.hidden = !ok;
          el.disabled = !ok;
          if (ok && first === null) first = o.value;
        });
        var cur = select.options[select.selectedIndex];
        if (first !== null && (!cur || cur.disabled)) choose(first, true);
      });
      var wanted = new URLSearchParams(window.location.search).get("gpu");
      choose(data.gpus[wanted] ? wanted : box.getAttribute("data-default"), false);
      box.setAttribute("data-state", "ready");
    }).catch(function (err) {
      box.setAttribute("data-state", "error");
      summary.textContent = "The picker could not load its data (" + err.message + "); every GPU has its own page under GPUs.";
    });
  }

  function init() {
    var box = document.getElementById("va-picker");
    if (box) start(box);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
